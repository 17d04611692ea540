/**
 * @module gateway/shutdown — how the Deno and Bun gateways stop on SIGTERM or SIGINT (a rolling
 * deploy, Ctrl-C): no new connections; every execution left running on its executor, where its
 * clients attach to it again (ExecutionRegistry.shutdown over a remote executor); HTTP event
 * streams ended after a whole line; WebSocket sessions closed with 1001 (going away); exit 0 once
 * every connection has ended, at the latest after SHUTDOWN_DEADLINE_MS. A second signal exits at once.
 * Each entry hooks its runtime's signals and server to this (docs/gateways.md, "Shutdown").
 */
import type { ExecutorApp } from '../app.ts'

/** Milliseconds after the first signal by which the gateway has exited, whatever is still open. */
export const SHUTDOWN_DEADLINE_MS = 5000

/**
 * A signal this soon after the first is its copy, not a second one: a Ctrl-C under `npm run`
 * reaches the gateway twice within milliseconds, from the terminal and forwarded by npm.
 */
export const REPEAT_MS = 500

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const
export type StopSignal = keyof typeof SIGNAL_NUMBERS

export interface StopOptions {
  /** "deno", "bun": named in the lines it prints. */
  runtime: string
  app: Pick<ExecutorApp, 'shutdown'>
  /** Stops the server accepting connections; resolves once those still open have ended. */
  stopServer(): Promise<void>
  exit(code: number): void
  deadlineMs?: number
}

/**
 * The handler of SIGTERM and SIGINT. The first stops the gateway as the module says and exits 0
 * (also at the deadline, with a line saying so: what it cuts then is connections, never executions);
 * a second one, not its copy (REPEAT_MS), exits at once with 128 + its number, as its default action would.
 *
 * @example
 * const stop = gatewayStopper({ runtime: 'deno', app, stopServer: () => server.shutdown(), exit: Deno.exit })
 * Deno.addSignalListener('SIGTERM', () => stop('SIGTERM'))
 */
export function gatewayStopper({ runtime, app, stopServer, exit, deadlineMs = SHUTDOWN_DEADLINE_MS }: StopOptions): (signal: StopSignal) => void {
  const say = (text: string) => console.log(`cc-executor gateway (${runtime}): ${text}`)
  let first: number | undefined
  return (signal) => {
    const now = Date.now()
    if (first !== undefined) {
      if (now - first < REPEAT_MS) return
      say(`${signal} again: exiting now`)
      return exit(128 + SIGNAL_NUMBERS[signal])
    }
    first = now
    say(`${signal}: shutting down; the executions run on on their executors`)
    setTimeout(() => {
      say(`connections still open after ${deadlineMs / 1000} s: closing them and exiting`)
      exit(0)
    }, deadlineMs)
    // The app first: by the time the server closes its sockets, no execution is cancelled for that.
    const leaving = app.shutdown()
    Promise.all([leaving, stopServer()]).then(
      () => {
        say('stopped')
        exit(0)
      },
      (error: unknown) => {
        console.error(`cc-executor gateway (${runtime}): shutdown failed:`, error)
        exit(1)
      },
    )
  }
}
