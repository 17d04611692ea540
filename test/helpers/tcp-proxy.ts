/**
 * A TCP proxy for tests (node:net): forwards every connection to `127.0.0.1:targetPort`, remembers
 * the HTTP request lines that went through, and can cut every live connection at once to simulate a
 * broken network between a gateway and its executor.
 */
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  /** Connections accepted so far. */
  readonly accepted: number
  /** Request lines seen from clients (`GET /v1/executions/x/events?after_seq=12 HTTP/1.1`), in order. */
  readonly requests: string[]
  /** Destroys both ends of every live connection; returns how many were cut. New connections still work. */
  breakAll(): number
  close(): Promise<void>
}

const REQUEST_LINE = /^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) \S+ HTTP\/1\.[01]/

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const live = new Set<{ client: Socket; upstream: Socket }>()
  const requests: string[] = []
  let accepted = 0

  const server = createServer((client) => {
    accepted += 1
    const upstream = connect(targetPort, '127.0.0.1')
    const pair = { client, upstream }
    live.add(pair)
    // An HTTP/1.1 request starts at the beginning of a client chunk in practice (keep-alive requests
    // are written whole); this is only a record for assertions, not a parser.
    client.on('data', (chunk: Buffer) => {
      const line = REQUEST_LINE.exec(chunk.toString('latin1', 0, Math.min(chunk.length, 2048)))
      if (line) requests.push(chunk.toString('latin1', 0, chunk.indexOf('\r\n')))
    })
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => {
      live.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
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
    requests,
    breakAll() {
      const pairs = [...live]
      for (const { client, upstream } of pairs) {
        // resetAndDestroy sends RST where available: an abrupt break, not a polite FIN.
        client.resetAndDestroy()
        upstream.resetAndDestroy()
      }
      live.clear()
      return pairs.length
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
