/**
 * Measure 4: latency from the child's write() to the client's handler. The child (Python) stamps
 * each line with CLOCK_MONOTONIC right before writing it; the client reads the same clock with
 * process.hrtime.bigint() (libuv's uv_hrtime is CLOCK_MONOTONIC on Linux; checkSharedClock
 * verifies it) as soon as the frame is parsed. Both processes are on the same host, so the two
 * readings are directly comparable. The same ticker read straight from a pipe by this process
 * gives the floor that the machine itself sets (scheduler and wake-up jitter).
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { killOnExit } from '../../test/helpers/tracker.ts'
import { withTempDir } from '../lib/cleanup.ts'
import type { RpcClient } from '../../test/helpers/rpc-client.ts'

const READ_CLOCK = 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))'

/**
 * Writes `count` lines "<i> <monotonic ns>\n", one write() each (os.write: no stdio buffering),
 * sleeping `gap` seconds between them.
 */
const TICKER = `import os, sys, time
count, gap = int(sys.argv[1]), float(sys.argv[2])
clock, now, write = time.CLOCK_MONOTONIC, time.clock_gettime_ns, os.write
for i in range(count):
    write(1, b"%d %d\\n" % (i, now(clock)))
    time.sleep(gap)
`

/**
 * Checks that Python's CLOCK_MONOTONIC and Node's hrtime are the same clock: a reading taken by a
 * python3 child must fall between two hrtime readings taken around the child's whole run.
 */
export function checkSharedClock(python: string, tries = 3): { ok: boolean; detail: string } {
  const details: string[] = []
  let ok = true
  for (let i = 0; i < tries; i++) {
    const before = process.hrtime.bigint()
    const child = BigInt(execFileSync(python, ['-c', READ_CLOCK], { encoding: 'utf8' }).trim())
    const after = process.hrtime.bigint()
    const inside = before <= child && child <= after
    ok &&= inside
    details.push(`${inside ? 'inside' : 'OUTSIDE'} [+${fmtMs(child - before)}, -${fmtMs(after - child)}]`)
  }
  return { ok, detail: details.join(', ') }
}

const fmtMs = (ns: bigint) => `${(Number(ns) / 1e6).toFixed(1)}ms`

/** Writes the ticker script to a temporary directory for the duration of `body`. */
export function withTicker<T>(body: (script: string) => Promise<T>): Promise<T> {
  return withTempDir('cc-bench-', (dir) => {
    const script = join(dir, 'ticker.py')
    writeFileSync(script, TICKER)
    return body(script)
  })
}

export interface LatencyOptions {
  lines?: number
  /** Leading lines not counted (interpreter start-up, first spawn of the code paths). */
  warmup?: number
  gapSeconds?: number
}

export interface LatencyResult {
  /** Milliseconds per line, in arrival order, warm-up lines excluded. */
  samples: number[]
  errors: string[]
}

/** Turns received text into latency samples; lines may arrive coalesced or split. */
class StampedLines {
  readonly samples: number[] = []
  received = 0
  #partial = ''
  constructor(readonly warmup: number) {}

  add(text: string, now: bigint): void {
    const all = this.#partial + text
    const end = all.lastIndexOf('\n')
    this.#partial = all.slice(end + 1)
    for (const line of all.slice(0, end + 1).split('\n')) {
      if (line === '') continue
      const [index, stamp] = line.split(' ')
      this.received += 1
      if (Number(index) >= this.warmup) this.samples.push(Number(now - BigInt(stamp)) / 1e6)
    }
  }

  check(expected: number): string[] {
    const errors: string[] = []
    if (this.received !== expected) errors.push(`received ${this.received} lines, expected ${expected}`)
    if (this.samples.some((s) => s < 0)) errors.push('negative latency: the clocks are not shared')
    return errors
  }
}

/** The ticker run by the server; the client stamps each process.output frame once it is parsed. */
export async function writeToClientLatency(
  client: RpcClient,
  script: string,
  { lines = 2000, warmup = 50, gapSeconds = 0.001 }: LatencyOptions = {},
): Promise<LatencyResult> {
  const stamped = new StampedLines(warmup)
  const execution = client.start({ command: `python3 ${script} ${lines + warmup} ${gapSeconds}`, stdin: 'close' }, (frame) => {
    if (frame.method === 'process.output' && frame.params.type === 'stdout') stamped.add(frame.params.data as string, process.hrtime.bigint())
  })
  const completed = await execution.completed
  const errors = stamped.check(lines + warmup)
  if (completed.status !== 'completed') errors.push(`ticker ended ${completed.status} (exit ${completed.exit_code})`)
  return { samples: stamped.samples, errors }
}

/** The floor: the same ticker read by this process straight from its stdout pipe. */
export async function directPipeLatency(python: string, script: string, { lines = 2000, warmup = 50, gapSeconds = 0.001 }: LatencyOptions = {}): Promise<LatencyResult> {
  const stamped = new StampedLines(warmup)
  const child = spawn(python, [script, String(lines + warmup), String(gapSeconds)], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] })
  const untrack = killOnExit(child.pid!, { group: true })
  child.stdout!.setEncoding('utf8').on('data', (text: string) => stamped.add(text, process.hrtime.bigint()))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  }).finally(untrack)
  const errors = stamped.check(lines + warmup)
  if (code !== 0) errors.push(`ticker exited ${code}`)
  return { samples: stamped.samples, errors }
}

/**
 * The machine's own stalls, with no server and no I/O: a separate Node process times a loop body
 * of well under a microsecond every 10 ms, the rhythm of measure 4b. Whatever it reads beyond the
 * loop's own cost is time the process was not given the CPU (another tenant of the host, a vCPU
 * descheduled): a floor under any p99 taken on the machine at that moment.
 */
export async function machineStalls(samples = 500): Promise<number[]> {
  const script = `const d = []; let x = 0
for (let i = 0; i < ${samples}; i++) {
  const t = performance.now(); for (let j = 0; j < 200; j++) x += j ^ i; d.push((performance.now() - t) * 1000)
  await new Promise((r) => setTimeout(r, 10))
}
process.stdout.write(JSON.stringify({ d, x }))`
  const { stdout: out } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })
  return (JSON.parse(out) as { d: number[] }).d
}

/** Where one line's time goes, per process, from the scheduler's own record (milliseconds, one entry a line). */
export interface LinePath {
  /** The server from the child's write that woke it to its socket write that wakes the client (with its wait for the CPU). */
  toClient: number[]
  /** The server's work after that write, until it sleeps: a client woken on the same CPU waits for it. */
  after: number[]
  /** The client from being woken to sleeping again (its wait for the CPU, the read, the parse). */
  client: number[]
}

interface SchedEvent {
  time: number
  /** The task as `perf sched timehist` names it: `comm[tid]` or `comm[tid/pid]`. */
  task: string
  pid: number
  /** A wake-up record: the task it woke; otherwise a switch-out record (the task's run ended at `time`). */
  woke?: { task: string; pid: number }
}

const TASK = /^(.*)\[(\d+)(?:\/(\d+))?\]$/
const pidOf = (task: string) => {
  const match = TASK.exec(task)
  return match ? Number(match[3] ?? match[2]) : -1
}

/**
 * Runs `body` under `perf sched record` (every CPU) and reads each line's way through the server
 * from the record: the child waking the server, the server waking a client (a node process other
 * than itself), each one's run ending. Returns why not instead when perf is not installed or may
 * not trace the scheduler here.
 */
export function linePath(serverPid: number, childComm: string, body: () => Promise<unknown>): Promise<LinePath | string> {
  return withTempDir('cc-bench-sched-', async (dir) => {
    const data = join(dir, 'sched.data')
    const perf = spawn('perf', ['sched', 'record', '-a', '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    perf.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    const exited = new Promise<number | null>((resolve) => {
      perf.once('error', () => resolve(-1))
      perf.once('exit', resolve)
    })
    // perf traces once it has set up its events, well within this; one that cannot has exited by then.
    await new Promise((resolve) => setTimeout(resolve, 500))
    if (perf.exitCode !== null || perf.pid === undefined) return `perf sched record is not available here (${stderr.trim().split('\n')[0] || 'not installed'})`
    try {
      await body()
    } finally {
      perf.kill('SIGINT')
      await exited
    }
    const { stdout } = await promisify(execFile)('perf', ['sched', 'timehist', '-w', '-i', data], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
    const path = pathOf(parseTimehist(stdout), serverPid, childComm)
    return path.toClient.length > 0 ? path : `the scheduler's record shows no line from ${childComm} through pid ${serverPid} to a client`
  })
}

function parseTimehist(text: string): SchedEvent[] {
  const events: SchedEvent[] = []
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 3 || !/^\d+\.\d+$/.test(fields[0]) || !fields[1].startsWith('[')) continue
    const task = fields[2]
    const at = fields.indexOf('awakened:')
    const woke = at === -1 ? undefined : { task: fields[at + 1], pid: pidOf(fields[at + 1]) }
    events.push({ time: Number(fields[0]) * 1000, task, pid: pidOf(task), woke })
  }
  return events
}

function pathOf(events: SchedEvent[], serverPid: number, childComm: string): LinePath {
  const path: LinePath = { toClient: [], after: [], client: [] }
  const endOfRun = (from: number, task: string, after: number) => {
    for (let j = from; j < events.length && events[j].time - after < 5; j += 1) {
      if (events[j].task === task && !events[j].woke && events[j].time >= after) return events[j].time
    }
    return undefined
  }
  for (let i = 0; i < events.length; i += 1) {
    const woken = events[i]
    if (!woken.task.startsWith(`${childComm}[`) || woken.woke?.pid !== serverPid) continue
    // The server's write to the client's socket: its wake-up of a node process other than itself.
    let j = i + 1
    while (j < events.length && events[j].time - woken.time < 5) {
      const { pid, woke } = events[j]
      if (pid === serverPid && woke && woke.pid !== serverPid && woke.task.startsWith('node[')) break
      j += 1
    }
    const sent = events[j]
    if (!sent || sent.time - woken.time >= 5) continue
    const serverDone = endOfRun(j + 1, sent.task, sent.time)
    const clientDone = endOfRun(j + 1, sent.woke!.task, sent.time)
    if (serverDone === undefined || clientDone === undefined) continue
    path.toClient.push(sent.time - woken.time)
    path.after.push(serverDone - sent.time)
    path.client.push(clientDone - sent.time)
  }
  return path
}
