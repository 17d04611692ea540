/**
 * @module adapters/node/server-process — the server as this process's whole job (`npm start`,
 * `cc-executor serve`): settings from env and flags, the server (start-server.ts), its log on
 * stdout, and a graceful shutdown on SIGTERM/SIGINT that leaves no child process behind. A setting
 * that cannot work (a bad value, a busy port, a HOST that is not this machine's, an unusable data
 * directory) stops startup with one line and exit code 2.
 */
import { pino } from 'pino'
import { ConfigError, loadConfig, type Config } from './settings.ts'
import { startNodeServer, type NodeServer } from './start-server.ts'

/** Log bytes held for a stdout that does not keep up; lines beyond are dropped. */
const LOG_BUFFER_BYTES = 16 * 1024 * 1024
/** How long the log gets to be written out at exit. */
const LOG_FLUSH_MS = 1000
/** Shutdown waits KILL_GRACE_MS at most for stubborn children; past that and this margin it gives up. */
const SHUTDOWN_MARGIN_MS = 5000

/**
 * The longest the server takes to exit after SIGTERM, log included: a supervisor's grace before
 * SIGKILL (Kubernetes' terminationGracePeriodSeconds, deploy/k8s) must be longer.
 */
export const shutdownDeadlineMs = (config: Pick<Config, 'KILL_GRACE_MS'>): number => config.KILL_GRACE_MS + SHUTDOWN_MARGIN_MS + LOG_FLUSH_MS

/** A setting that cannot work stops startup with one line and exit code 2. */
function fail(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`cc-executor: ${error.message}\n`)
  process.exit(2)
}

/** Loads the settings, starts the server, and stops it gracefully on SIGTERM or SIGINT (then exits). */
export async function runServerProcess(env: Record<string, string | undefined> = process.env, argv: string[] = process.argv.slice(2)): Promise<NodeServer> {
  let config: Config
  try {
    config = loadConfig(env, argv)
  } catch (error) {
    fail(error)
  }

  // Asynchronous writes: a slow reader of stdout must not stall the event loop (a synchronous
  // destination sleeps 100 ms at every EAGAIN of a full pipe); one that stops reading costs at most
  // LOG_BUFFER_BYTES of memory.
  const destination = pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES })
  const logger = pino({ level: config.LOG_LEVEL }, destination)
  // Lines still pending at process.exit() are written synchronously by pino's exit hook, and
  // sonic-boom 4 retries a failed synchronous write forever: with stdout's reader gone (`npm start |
  // head`) SIGTERM never ended the server. So the destination is ended (and its hook removed) first;
  // a write failing with EPIPE meanwhile makes pino drop the rest of the log instead.
  const exit = async (code: number) => {
    await new Promise<void>((resolve) => {
      setTimeout(resolve, LOG_FLUSH_MS)
      destination.once('close', () => resolve())
      destination.end()
    })
    process.exit(code)
  }
  const starting = startNodeServer(config, logger).catch(fail)

  // In place before the server listens: a SIGTERM right after the "listening" line must not find
  // Node's default action (death without cleanup) still installed.
  // Every signal is handled for as long as the process lives: a Ctrl-C reaches both npm and the
  // server, and npm sends its own copy on, so a second SIGINT while shutting down is the rule, and
  // Node's default action for it would end the server before its children.
  let stopping = false
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    setTimeout(() => {
      logger.error({}, 'shutdown timed out')
      void exit(1)
    }, config.KILL_GRACE_MS + SHUTDOWN_MARGIN_MS).unref()
    await (await starting).close()
    logger.info({}, 'stopped')
    await exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return starting
}
