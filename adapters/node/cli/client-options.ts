/**
 * @module adapters/node/cli/client-options — the options every client command takes (--url,
 * --token, --transport, --heartbeat-interval, or their CC_EXECUTOR_* environment variables), and
 * the client they make.
 */
import { Command, Option } from 'commander'
import { WebSocket as NodeWebSocket } from 'ws'
import { ExecutorClient, type ClientOptions, type WebSocketConstructor } from '../../../src/client/index.ts'
import { CliError } from './outcome.ts'
import { positiveNumber } from './parse.ts'

const DEFAULT_URL = 'http://127.0.0.1:8003'

interface ClientFlags {
  url?: string
  token?: string
  transport?: 'ws' | 'http'
  heartbeatInterval?: number
}

/** The options every client command takes (also accepted before the command name). */
export function clientOptions(command: Command): Command {
  return command
    .option('--url <url>', `the server (env CC_EXECUTOR_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (env CC_EXECUTOR_TOKEN)')
    .addOption(new Option('--transport <transport>', 'WebSocket JSON-RPC or the HTTP /v1 API (env CC_EXECUTOR_TRANSPORT, default ws)').choices(['ws', 'http']))
    .option('--heartbeat-interval <seconds>', "the server's WEBSOCKET_HEARTBEAT_INTERVAL (default 20): a connection silent for 3x this long is replaced", positiveNumber)
}

function clientFrom(command: Command, extra: Partial<ClientOptions> = {}): ExecutorClient {
  const flags = command.optsWithGlobals() as ClientFlags
  const env = process.env
  const transport = flags.transport ?? (env.CC_EXECUTOR_TRANSPORT as 'ws' | 'http' | undefined) ?? 'ws'
  if (transport !== 'ws' && transport !== 'http') throw new CliError(`CC_EXECUTOR_TRANSPORT must be ws or http (got ${JSON.stringify(transport)})`, 2)
  let heartbeat = flags.heartbeatInterval
  if (heartbeat === undefined && env.CC_EXECUTOR_HEARTBEAT_INTERVAL) {
    try {
      heartbeat = positiveNumber(env.CC_EXECUTOR_HEARTBEAT_INTERVAL)
    } catch (error) {
      throw new CliError(`CC_EXECUTOR_HEARTBEAT_INTERVAL: ${(error as Error).message}`, 2)
    }
  }
  try {
    return new ExecutorClient({
      url: flags.url ?? env.CC_EXECUTOR_URL ?? DEFAULT_URL,
      token: flags.token ?? env.CC_EXECUTOR_TOKEN,
      transport,
      // The ws package on every Node version: Node 20 has no global WebSocket.
      WebSocket: NodeWebSocket as unknown as WebSocketConstructor,
      heartbeatInterval: heartbeat,
      ...extra,
    })
  } catch (error) {
    throw new CliError((error as Error).message, 2)
  }
}

/** Runs `work` with a client made from the command's options, and closes the client afterwards, whatever happens. */
export async function withClient<T>(command: Command, work: (client: ExecutorClient) => Promise<T>, extra: Partial<ClientOptions> = {}): Promise<T> {
  const client = clientFrom(command, extra)
  try {
    return await work(client)
  } finally {
    await client.close()
  }
}
