/**
 * @module adapters/node/serve — the server as a command (`npm start`, `cc-executor serve`):
 * configuration from env and flags, the server, and a graceful shutdown on SIGTERM/SIGINT that
 * leaves no child process behind. A bad setting stops startup with one line and exit code 2.
 */
import { pino } from 'pino'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { startNodeServer, type NodeServer } from './server.ts'

/** A setting that cannot work stops startup with one line and exit code 2. */
function fail(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`cc-executor: ${error.message}\n`)
  process.exit(2)
}

/** Loads the settings, starts the server, and stops it gracefully on SIGTERM or SIGINT (then exits). */
export async function serve(env: Record<string, string | undefined> = process.env, argv: string[] = process.argv.slice(2)): Promise<NodeServer> {
  let config: Config
  try {
    config = loadConfig(env, argv)
  } catch (error) {
    fail(error)
  }

  // Synchronous writes: a line is out when it is logged, so nothing is pending at exit. (With pino's
  // default asynchronous destination, lines still pending at exit are written synchronously by an
  // exit hook, and sonic-boom 4 retries a failed write there forever: `npm start | head` never
  // ended on SIGTERM.) A reader that went away (EPIPE) turns logging off rather than failing.
  const logger = pino({ level: config.LOG_LEVEL }, pino.destination({ dest: 1, sync: true }))
  const starting = startNodeServer(config, logger).catch(fail)

  // In place before the server listens: a SIGTERM right after the "listening" line must not find
  // Node's default action (death without cleanup) still installed.
  const stop = async (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down')
    // Shutdown waits KILL_GRACE_MS at most for stubborn children; give it that and a margin.
    setTimeout(() => {
      logger.error({}, 'shutdown timed out')
      process.exit(1)
    }, config.KILL_GRACE_MS + 5000).unref()
    await (await starting).close()
    logger.info({}, 'stopped')
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  return starting
}
