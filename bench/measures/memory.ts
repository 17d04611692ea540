/**
 * Measure 7: server memory under a fast producer and a slow consumer. The child writes as fast as
 * it can; the client reads about 2 MB/s by pausing its socket (ws.pause() stops reading it, so TCP
 * back-pressure reaches the server). With the lossless `block` policy the server must stop reading
 * the child's pipe, the child must block in write(), and the server's RSS must stay flat.
 */
import type { RpcClient } from '../../test/helpers/rpc-client.ts'
import { fileOf, groupMembers, procStat, rssKiB, sleep, wchan, writtenBytes } from '../../test/helpers/proc.ts'
import { runShell } from '../lib/shell.ts'

/**
 * Wait channels of a process blocked writing its stdout. Node (libuv) gives a child a UNIX
 * socketpair, not a pipe, for stdio "pipe": the writer then sleeps in sock_alloc_send_pskb (or
 * unix_stream_sendmsg); a real pipe shows pipe_write / anon_pipe_write.
 */
const BLOCKED_IN_WRITE = /pipe_write|sock_alloc_send|unix_stream_sendmsg|sk_stream_wait_memory/

/** What the child's fd 1 is: "socket", "pipe", ... (from the /proc/<pid>/fd/1 link, e.g. "socket:[123]"). */
function stdoutType(pid: number): string | undefined {
  return fileOf(pid, 1)?.replace(/:.*$/, '')
}

/** 1023 characters + newline = 1 KiB lines. */
const LONG_LINE = 'cc-executor-memory-'.padEnd(1023, '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')

export interface MemoryResult {
  baselineKiB: number
  maxKiB: number
  /** [seconds since start, RSS KiB] every sample. */
  rss: [number, number][]
  /** Length of the throttled run. */
  seconds: number
  /** Output bytes the client had received when it sent CANCEL. */
  clientBytes: number
  /** Output bytes the client received in all, up to process.completed. */
  clientBytesTotal: number
  /** Bytes the child had passed to write() when the run ended (/proc/<pid>/io wchar). */
  childWrote: number
  /** Bytes the server read from the pipe (process.completed stdout_bytes). */
  serverRead: number
  /** What `yes` writes into a pipe per second when nobody holds it back. */
  freeRateBps: number
  childSamples: number
  /** Samples in which the child slept in write() to its stdout (state S, see BLOCKED_IN_WRITE). */
  blockedSamples: number
  /** The child's stdout: "socket" (libuv socketpair) or "pipe". */
  stdoutKind: string
  /** "state/wchan" → count, over all child samples. */
  childStates: Map<string, number>
  cancelMs: number
  completedStatus: string
  groupGone: boolean
  errors: string[]
}

export async function memoryUnderBackpressure(
  client: RpcClient,
  serverPid: number,
  { seconds = 20, clientRateBps = 2_000_000, sampleMs = 250 } = {},
): Promise<MemoryResult> {
  const errors: string[] = []
  // The rate at which yes fills a pipe that is drained as fast as possible, for "could have produced".
  const freeBytes = 400 * 1024 * 1024
  const free = await runShell(`yes ${LONG_LINE} | head -c ${freeBytes} | cat > /dev/null`)
  const freeRateBps = freeBytes / (free.ms / 1000)

  // Baseline: the idle server with this session open, a few samples averaged.
  await sleep(500)
  const baseSamples: number[] = []
  for (let i = 0; i < 4; i++) {
    baseSamples.push(rssKiB(serverPid) ?? Number.NaN)
    await sleep(100)
  }
  const baselineKiB = Math.round(baseSamples.reduce((a, b) => a + b, 0) / baseSamples.length)

  const ws = client.ws
  let clientBytes = 0
  let throttled = true
  const start = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9
  // Token bucket: stop reading the socket once ahead of rate × elapsed, resume when behind again.
  const ahead = () => clientBytes >= clientRateBps * elapsed()

  const execution = client.start({ command: `yes ${LONG_LINE}`, stdin: 'close' }, (frame) => {
    if (frame.method !== 'process.output') return
    clientBytes += Buffer.byteLength(frame.params.data as string, 'utf8')
    if (throttled && ahead()) ws.pause()
  })
  const throttle = setInterval(() => {
    if (throttled && ws.isPaused && !ahead()) ws.resume()
  }, 10)

  const rss: [number, number][] = []
  const childStates = new Map<string, number>()
  let childSamples = 0
  let blockedSamples = 0
  let childWrote = 0
  let cancelMs = Number.NaN
  let completedStatus = 'none'
  let serverRead = 0
  let groupGone = false
  let pgid = 0
  let stdoutKind: string | undefined
  let runSeconds = 0
  let clientBytesBeforeCancel = 0
  try {
    const started = await execution.started
    pgid = started.pgid
    while (elapsed() < seconds) {
      await sleep(sampleMs)
      const kib = rssKiB(serverPid)
      if (kib !== undefined) rss.push([elapsed(), kib])
      for (const pid of groupMembers(pgid)) {
        const state = procStat(pid)?.state ?? '?'
        const channel = wchan(pid) ?? '?'
        const key = `${state}/${channel}`
        childStates.set(key, (childStates.get(key) ?? 0) + 1)
        childSamples += 1
        if (state === 'S' && BLOCKED_IN_WRITE.test(channel)) blockedSamples += 1
        stdoutKind ??= stdoutType(pid)
        childWrote = Math.max(childWrote, writtenBytes(pid) ?? 0)
      }
    }
  } finally {
    runSeconds = elapsed()
    clientBytesBeforeCancel = clientBytes
    // CANCEL, then read at full speed: the server sends whatever it still holds before the completion.
    throttled = false
    clearInterval(throttle)
    ws.resume()
  }
  const cancelStart = process.hrtime.bigint()
  try {
    const reply = await client.call<{ status: string }>('control', { type: 'CANCEL', execution_id: execution.id })
    if (reply.status !== 'canceled') errors.push(`CANCEL answered ${JSON.stringify(reply)}`)
    const completed = await Promise.race([
      execution.completed,
      sleep(15_000).then(() => {
        throw new Error('no process.completed within 15 s of CANCEL')
      }),
    ])
    cancelMs = Number(process.hrtime.bigint() - cancelStart) / 1e6
    completedStatus = completed.status
    serverRead = completed.stdout_bytes
    if (completed.status !== 'canceled') errors.push(`completed with status ${completed.status}, expected canceled`)
    if (serverRead !== clientBytes) errors.push(`server read ${serverRead} bytes but the client received ${clientBytes}`)
    groupGone = groupMembers(pgid).length === 0
    if (!groupGone) errors.push(`process group ${pgid} still has members after completion`)
  } catch (error) {
    errors.push((error as Error).message)
  }
  const maxKiB = Math.max(baselineKiB, ...rss.map(([, kib]) => kib))
  return {
    baselineKiB,
    maxKiB,
    rss,
    seconds: runSeconds,
    clientBytes: clientBytesBeforeCancel,
    clientBytesTotal: clientBytes,
    childWrote,
    serverRead,
    freeRateBps,
    childSamples,
    blockedSamples,
    childStates,
    stdoutKind: stdoutKind ?? 'unknown',
    cancelMs,
    completedStatus,
    groupGone,
    errors,
  }
}
