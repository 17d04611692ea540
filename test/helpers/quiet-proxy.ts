/**
 * A TCP proxy for tests that can go quiet: `silence()` makes every live connection withhold what the
 * server sends (and hide the server closing it) while staying open — a peer that is not dead, just
 * silent, as a stalled NAT or proxy looks. Only a client-side watchdog can notice. New connections
 * are forwarded normally.
 */
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export interface QuietProxy {
  port: number
  url: string
  readonly accepted: number
  /** Silences the live connections; returns how many. */
  silence(): number
  close(): Promise<void>
}

export async function startQuietProxy(targetPort: number): Promise<QuietProxy> {
  const live = new Set<{ client: Socket; upstream: Socket; silenced: boolean }>()
  let accepted = 0
  const server = createServer((client) => {
    accepted += 1
    const upstream = connect(targetPort, '127.0.0.1')
    const pair = { client, upstream, silenced: false }
    live.add(pair)
    upstream.on('data', (chunk) => {
      if (!pair.silenced) client.write(chunk)
    })
    client.on('data', (chunk) => {
      if (!upstream.destroyed) upstream.write(chunk)
    })
    const drop = () => {
      live.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    upstream.on('error', () => {})
    upstream.on('close', () => {
      if (!pair.silenced) drop()
    })
    client.on('error', drop)
    client.on('close', drop)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted
    },
    silence() {
      for (const pair of live) pair.silenced = true
      return live.size
    },
    async close() {
      for (const { client, upstream } of live) {
        client.destroy()
        upstream.destroy()
      }
      live.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
