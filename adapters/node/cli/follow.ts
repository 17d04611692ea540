/**
 * @module adapters/node/cli/follow — a remote execution shown as if it ran here: its stdout and
 * stderr byte for byte on ours (in the order the server recorded them, with back-pressure), its exit
 * code as ours, and the terminal's job control forwarded: Ctrl-C cancels (twice: kills), Ctrl-Z
 * pauses it and stops the CLI, `fg`/`bg` resume it; SIGTERM, SIGHUP or a closed stdout cancel it.
 * A status line on a TTY stderr shows how it goes.
 */
import { constants } from 'node:os'
import { ErrorCode, ExecutorError, type ClientEvent, type CompletedParams, type Run } from '../../../src/client/index.ts'
import { writeAll } from './output.ts'
import { StatusLine } from './status-line.ts'

/** Text for our stdout or stderr. */
export interface Shown {
  type: 'stdout' | 'stderr'
  data: string
}

export interface FollowOptions {
  /** What Ctrl-C does: cancel the execution (run, attach), or just stop watching (logs --follow). */
  interrupt: 'cancel' | 'detach'
  /** Draw the status line (when stderr is a TTY). */
  status: boolean
  /** No notes of our own on stderr (why an execution ended abnormally). */
  quiet: boolean
  /** What an event shows, if anything. Default: process.output, as the process printed it. */
  show?: (event: ClientEvent) => Shown | undefined
  /**
   * The exit code for the ended execution; `userCode` is that of how the user ended it, if they
   * did (130 Ctrl-C, 141 stdout closed, 143 SIGTERM, 129 SIGHUP). Default: exitCodeOf.
   */
  exitCode?: (completion: CompletedParams, userCode: number | undefined) => number
  /**
   * What to tell on stderr once the execution ended (unless quiet). Default: the reason, when it
   * neither exited by itself nor was ended by the user.
   */
  report?: (completion: CompletedParams, userCode: number | undefined) => string | undefined
}

/** 128 + the signal's number, as a shell reports a process killed by that signal; undefined if unknown. */
export function signalExitCode(signal: string | null | undefined): number | undefined {
  if (!signal) return undefined
  const number = (constants.signals as Record<string, number | undefined>)[signal]
  return number === undefined ? undefined : 128 + number
}

/**
 * The exit code a local shell would report: the remote one when the process exited (it may have
 * handled the signal the user sent and chosen its own code), else the user's, else 128 + the
 * signal that ended it.
 */
export function exitCodeOf(completion: CompletedParams, userCode: number | undefined): number {
  return completion.exit_code ?? userCode ?? signalExitCode(completion.signal) ?? 125
}

/** A note of the CLI's own, as it shows on stderr. */
const ours = (text: string) => `cc-executor: ${text}\n`

const reasonOf = (completion: CompletedParams, userCode: number | undefined) =>
  completion.exit_code === null && userCode === undefined ? ours(completion.reason) : undefined

const printed = (event: ClientEvent): Shown | undefined => (event.method === 'process.output' ? event.params : undefined)

/** The signals that end the CLI (and cancel what it started): Ctrl-C, kill, a closed terminal. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * Starts an execution (`begin`) and follows it. A Ctrl-C, SIGTERM or SIGHUP while it is being
 * started cancels it as soon as it exists, and the CLI leaves with that signal's code.
 */
export async function followStart(begin: () => Promise<Run>, options: FollowOptions): Promise<number> {
  let early: NodeJS.Signals | undefined
  const onEarly = (signal: NodeJS.Signals) => (early ??= signal)
  for (const signal of ENDING_SIGNALS) process.on(signal, onEarly)
  let run: Run
  try {
    run = await begin()
  } finally {
    for (const signal of ENDING_SIGNALS) process.off(signal, onEarly)
  }
  if (early) {
    await run.close()
    return signalExitCode(early)!
  }
  return await follow(run, options)
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/** Follows `run` to its end on this terminal; resolves with the exit code to leave with. */
export async function follow(run: Run, options: FollowOptions): Promise<number> {
  const startedAt = Date.now()
  const stdout = process.stdout
  const stderr = process.stderr
  let phase: string | undefined
  let interrupts = 0
  let terminatedBy: NodeJS.Signals | undefined
  let suspended = false
  let stdoutBroken = false

  const status = new StatusLine({
    stderr,
    stdoutIsTTY: stdout.isTTY === true,
    enabled: options.status && stderr.isTTY === true,
    render: () => {
      const state = phase ?? (run.connection === 'reconnecting' ? 'reconnecting' : run.state)
      const beat = run.lastHeartbeatAt === undefined ? 'none yet' : `${seconds(Date.now() - run.lastHeartbeatAt)} ago`
      return `[cc-executor ${run.id.slice(0, 8)}] ${state} ${seconds(Date.now() - startedAt)} | heartbeat ${beat}`
    },
  })

  /** Text of our own on stderr, never tangled with the status line. */
  const tell = (text: string) => {
    status.clear()
    const bytes = Buffer.from(text)
    stderr.write(bytes)
    status.afterWrite('stderr', bytes)
  }
  const note = (text: string) => tell(ours(text))
  const steer = (what: string, action: () => Promise<unknown>) =>
    action().catch((error: unknown) => {
      // Ended meanwhile: nothing left to steer. (Over WebSocket the answer comes on the client's shared
      // session, so the completion can be read first and the client closed before the answer arrives.)
      if (run.state === 'exited') return
      if (error instanceof ExecutorError && error.code === ErrorCode.NO_SUCH_PROCESS) return
      note(`cannot ${what}: ${(error as Error).message}`)
    })

  const onInterrupt = () => {
    interrupts += 1
    if (options.interrupt === 'detach') {
      phase = 'detaching'
      run.detach()
      return
    }
    if (interrupts === 1) {
      phase = 'canceling'
      void steer('cancel', () => run.cancel())
    } else if (interrupts === 2) {
      phase = 'killing'
      void steer('kill', () => run.kill())
    } else {
      // A third Ctrl-C: leave now; KILL has been sent.
      status.stop()
      process.exit(130)
    }
  }
  const onTerminate = (signal: NodeJS.Signals) => {
    terminatedBy = signal
    phase = 'canceling'
    if (options.interrupt === 'detach') run.detach()
    else void steer('cancel', () => run.cancel())
  }
  const onStop = async () => {
    if (suspended) return
    suspended = true
    if (options.interrupt === 'cancel' && run.state === 'running') {
      phase = 'pausing'
      // Wait for the server's answer (a stopped CLI cannot send it), but not forever.
      await Promise.race([steer('pause', () => run.pause()), new Promise((resolve) => setTimeout(resolve, 10_000))])
    }
    phase = undefined
    status.pause()
    // We handle SIGTSTP, so the default stop does not happen: stop ourselves like it would.
    process.kill(process.pid, 'SIGSTOP')
  }
  const onContinue = () => {
    if (!suspended) return
    suspended = false
    status.resume()
    if (options.interrupt === 'cancel' && run.state === 'paused') void steer('resume', () => run.resume())
  }
  const onTerm = () => onTerminate('SIGTERM')
  const onHup = () => onTerminate('SIGHUP')
  const onStdoutError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' || stdoutBroken) return
    // The reader went away (`| head`): as SIGPIPE would end a local command, end the remote one.
    stdoutBroken = true
    if (options.interrupt === 'cancel') void steer('cancel', () => run.cancel())
    else run.detach()
  }
  process.on('SIGINT', onInterrupt)
  process.on('SIGTERM', onTerm)
  process.on('SIGHUP', onHup)
  process.on('SIGTSTP', onStop)
  process.on('SIGCONT', onContinue)
  stdout.on('error', onStdoutError)
  status.start()

  const show = options.show ?? printed
  try {
    for await (const event of run) {
      const shown = show(event)
      if (shown) {
        if (stdoutBroken && shown.type === 'stdout') continue
        const target = shown.type === 'stdout' ? stdout : stderr
        const bytes = Buffer.from(shown.data, 'utf8')
        status.beforeWrite(shown.type)
        const waiting = writeAll(target, bytes)
        status.afterWrite(shown.type, bytes)
        if (waiting) await waiting.catch(onStdoutError)
      }
      if (event.method === 'process.gap') {
        note(`the server no longer has events ${event.params.from_seq}-${event.params.to_seq}: output is missing here`)
      } else if (event.method === 'process.dropped') {
        note(`${event.params.bytes} bytes of ${event.params.type} were dropped by the server (backpressure: drop)`)
      }
    }
    const completion = await run.completed
    const userCode = stdoutBroken ? signalExitCode('SIGPIPE') : terminatedBy ? signalExitCode(terminatedBy) : interrupts > 0 ? 130 : undefined
    const report = options.quiet ? undefined : (options.report ?? reasonOf)(completion, userCode)
    if (report) tell(report)
    return (options.exitCode ?? exitCodeOf)(completion, userCode)
  } catch (error) {
    if (options.interrupt === 'detach' && interrupts > 0) return 130
    if (terminatedBy && options.interrupt === 'detach') return signalExitCode(terminatedBy)!
    note((error as Error).message)
    return 125
  } finally {
    status.stop()
    process.off('SIGINT', onInterrupt)
    process.off('SIGTERM', onTerm)
    process.off('SIGHUP', onHup)
    process.off('SIGTSTP', onStop)
    process.off('SIGCONT', onContinue)
  }
}
