/**
 * @module adapters/node/main — `npm start`: configuration from env and flags, the server, and a
 * graceful shutdown on SIGTERM/SIGINT that leaves no child process behind.
 */
import { pino } from 'pino'
import { ConfigError, loadConfig } from './config.ts'
import { startNodeServer } from './server.ts'

/** A setting that cannot work stops startup with one line and exit code 2. */
function fail(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`cc-executor: ${error.message}\n`)
  process.exit(2)
}

let config
try {
  config = loadConfig()
} catch (error) {
  fail(error)
}

const logger = pino({ level: config.LOG_LEVEL })
const node = await startNodeServer(config, logger).catch(fail)

const stop = async (signal: NodeJS.Signals) => {
  logger.info({ signal }, 'shutting down')
  // Shutdown waits KILL_GRACE_MS at most for stubborn children; give it that and a margin.
  setTimeout(() => {
    logger.error({}, 'shutdown timed out')
    process.exit(1)
  }, config.KILL_GRACE_MS + 5000).unref()
  await node.close()
  logger.info({}, 'stopped')
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
