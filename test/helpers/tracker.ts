/**
 * Processes that must not outlive this one, for the tests and the bench: whatever is still tracked
 * is signalled when this process exits or is ended by a signal (a crash, a test file's timeout, ^C).
 */

/** What to signal, by kill target (a pid, or minus a process group id), and with which signal. */
const tracked = new Map<number, NodeJS.Signals>()
const TERMINATING = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const
let onSignal: ((signal: NodeJS.Signals) => void) | undefined
let hooked = false

export interface TrackOptions {
  /** Signal the whole process group `pid` leads, not only `pid`. */
  group?: boolean
  /** SIGKILL by default; give SIGTERM for a Node executor, which then ends its executions' groups itself. */
  signal?: NodeJS.Signals
}

/** Signals `pid` (or its group) should this process end before the returned call untracks it. */
export function killOnExit(pid: number, { group = false, signal = 'SIGKILL' }: TrackOptions = {}): () => void {
  const target = group ? -pid : pid
  tracked.set(target, signal)
  hook()
  return () => void tracked.delete(target)
}

/** Signals everything still tracked, now (synchronous: safe inside process.on('exit')). */
export function killTracked(): void {
  for (const [target, signal] of tracked) {
    try {
      process.kill(target, signal)
    } catch {
      // ESRCH: already gone.
    }
  }
  tracked.clear()
}

/**
 * What a terminating signal does instead of the default, which kills what is tracked and then dies
 * of the signal: the bench first runs its own cleanup. The exit hook still kills what is left.
 */
export function onTerminatingSignal(handler: (signal: NodeJS.Signals) => void): void {
  onSignal = handler
  hook()
}

function hook(): void {
  if (hooked) return
  hooked = true
  process.once('exit', killTracked)
  // The test runner ends a timed-out file with SIGTERM, which skips 'exit': clean up, then die of the signal.
  for (const signal of TERMINATING) {
    process.once(signal, () => {
      if (onSignal) return onSignal(signal)
      killTracked()
      process.kill(process.pid, signal)
    })
  }
}
