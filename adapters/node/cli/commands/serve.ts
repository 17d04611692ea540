/** @module adapters/node/cli/commands/serve — `cc-executor serve`: the executor server, as `npm start`. */
import type { Command } from 'commander'

/**
 * `cc-executor serve`: the options are the server's settings (each also an environment variable).
 * The settings' schema is loaded only when `serve` is asked for: the client commands start faster.
 */
export async function registerServe(program: Command, wanted: boolean): Promise<void> {
  const serve = program
    .command('serve')
    .description('run the executor server (as npm start); every setting is a flag or its environment variable')
  if (!wanted) return
  const { ConfigSchema, flagOf } = await import('../../settings.ts')
  serve.option('--insecure', 'allow an open server on a non-loopback HOST (CC_EXECUTOR_INSECURE=true)')
  const keys = Object.keys(ConfigSchema.entries)
  for (const key of keys) serve.option(`--${flagOf(key)} <value>`, `env ${key}`)
  serve.action(async (flags: Record<string, string | boolean | undefined>) => {
    const argv: string[] = []
    if (flags.insecure === true) argv.push('--insecure')
    for (const key of keys) {
      const camel = flagOf(key).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
      const value = flags[camel]
      if (typeof value === 'string') argv.push(`--${flagOf(key)}=${value}`)
    }
    const { runServerProcess } = await import('../../server-process.ts')
    await runServerProcess(process.env, argv)
  })
}
