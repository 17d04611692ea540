/** Measures 1 and 2: bulk stdout throughput through the server, and the raw pipe it is compared with. */
import { cpuMs } from '../../test/helpers/proc.ts'
import type { RpcClient } from '../../test/helpers/rpc-client.ts'
import { runShell } from '../lib/shell.ts'

/** 114 printable characters; with yes's newline, a 115-byte line. No shell metacharacters. */
export const LINE = 'cc-executor-bench-'.padEnd(114, '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')
export const LINE_BYTES = LINE.length + 1

export const yesCommand = (lines: number, line = LINE) => `yes ${line} | head -n ${lines}`

export interface ThroughputRun {
  ms: number
  bytes: number
  frames: number
  /** CPU time the server process (or all of a gateway's processes) used during the run; NaN when no pid was given. */
  serverCpuMs: number
  /** CPU time this (client) process used during the run. */
  clientCpuMs: number
  /** Problems found while checking the stream (byte total, seq order, completion). */
  errors: string[]
}

/**
 * One execution of `yes | head -n lines`: every frame is parsed (by the client), the UTF-8 byte
 * length of each process.output `data` is summed until process.completed, and the sum is checked.
 */
export async function ourThroughput(client: RpcClient, serverPid: number | readonly number[] | undefined, lines: number): Promise<ThroughputRun> {
  const expected = lines * LINE_BYTES
  let bytes = 0
  let frames = 0
  let lastSeq = 0
  let seqErrors = 0
  // Several pids (a gateway's process group): their CPU time summed; none: NaN.
  const pids = serverPid === undefined ? [] : typeof serverPid === 'number' ? [serverPid] : serverPid
  const serverCpu = () => (pids.length === 0 ? Number.NaN : pids.reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0))
  const serverCpuStart = serverCpu()
  const clientCpuStart = process.cpuUsage()
  const start = process.hrtime.bigint()
  const execution = client.start({ command: yesCommand(lines), stdin: 'close' }, (frame) => {
    const seq = frame.params.seq
    if (seq !== undefined && seq !== ++lastSeq) {
      seqErrors += 1
      lastSeq = seq
    }
    if (frame.method === 'process.output') {
      bytes += Buffer.byteLength(frame.params.data as string, 'utf8')
      frames += 1
    }
  })
  const completed = await execution.completed
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const serverCpuMs = serverCpu() - serverCpuStart
  const clientCpu = process.cpuUsage(clientCpuStart)
  const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000
  const errors: string[] = []
  if (bytes !== expected) errors.push(`received ${bytes} bytes of output, expected ${expected}`)
  if (completed.stdout_bytes !== expected) errors.push(`process.completed says stdout_bytes=${completed.stdout_bytes}, expected ${expected}`)
  if (completed.status !== 'completed') errors.push(`status ${completed.status} (exit ${completed.exit_code})`)
  if (seqErrors > 0) errors.push(`${seqErrors} seq discontinuities`)
  return { ms, bytes, frames, serverCpuMs, clientCpuMs, errors }
}

/** The same pipeline straight into cat > /dev/null: what the kernel pipe and the tools can do. */
export async function rawPipe(lines: number): Promise<{ ms: number; bytes: number }> {
  const run = await runShell(`${yesCommand(lines)} | cat > /dev/null`)
  if (run.code !== 0) throw new Error(`raw pipeline exited ${run.code}`)
  return { ms: run.ms, bytes: lines * LINE_BYTES }
}

/** The same pipeline read by this Node process from a pipe (no framing, no JSON, no socket). */
export async function nodePipe(lines: number): Promise<{ ms: number; bytes: number }> {
  const run = await runShell(yesCommand(lines), { readStdout: true })
  if (run.bytes !== lines * LINE_BYTES) throw new Error(`node pipe read ${run.bytes} bytes, expected ${lines * LINE_BYTES}`)
  return { ms: run.ms, bytes: run.bytes }
}

export const mbPerSecond = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)
