/**
 * Measure 11: MCP. A `execute {command:"true"}` tool call round trip through the SDK's own client
 * (Streamable HTTP, one session), and many sessions at once, each initializing and calling execute.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'cc-executor-bench', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
  return client
}

/** Round trips (ms) of `count` execute calls of `true` on one session, after `warmup` discarded. */
export async function mcpRoundTrips(url: string, count: number, warmup: number): Promise<{ samples: number[]; errors: string[] }> {
  const client = await connect(url)
  const samples: number[] = []
  const errors: string[] = []
  try {
    for (let i = -warmup; i < count; i += 1) {
      const start = performance.now()
      const result = (await client.callTool({ name: 'execute', arguments: { command: 'true' } })) as { structuredContent?: { exit_code?: number } }
      const ms = performance.now() - start
      if (result.structuredContent?.exit_code !== 0) errors.push(`call ${i}: ${JSON.stringify(result).slice(0, 200)}`)
      if (i >= 0) samples.push(ms)
    }
  } finally {
    await client.close()
  }
  return { samples, errors }
}

/** `sessions` MCP sessions at once, each: initialize, execute `echo a; sleep 1; echo b`, close. Wall times (ms) of the successful ones. */
export async function mcpConcurrentSessions(url: string, sessions: number): Promise<{ times: number[]; failures: string[] }> {
  const times: number[] = []
  const failures: string[] = []
  await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      const start = performance.now()
      try {
        const client = await connect(url)
        try {
          const result = (await client.callTool({ name: 'execute', arguments: { command: `echo a${i}; sleep 1; echo b${i}` } })) as { structuredContent?: { stdout?: string } }
          if (result.structuredContent?.stdout !== `a${i}\nb${i}\n`) throw new Error(`unexpected output: ${JSON.stringify(result).slice(0, 200)}`)
          times.push(performance.now() - start)
        } finally {
          await client.close()
        }
      } catch (error) {
        failures.push(String(error))
      }
    }),
  )
  return { times, failures }
}
