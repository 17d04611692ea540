/**
 * A TCP proxy for tests (node:net): forwards every connection to `127.0.0.1:targetPort`, remembers
 * the HTTP request lines that went through, and can cut every live connection at once to simulate a
 * broken network between a gateway and its executor — or silence them: a peer that is not dead,
 * just quiet, as a stalled NAT or proxy looks, which only a client-side watchdog can notice.
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
  /**
   * Live connections keep open but withhold everything the server sends, its close included;
   * returns how many. New connections are forwarded normally.
   */
  silence(): number
  /** While true, new connections are accepted and at once reset: the server looks down, for a while. */
  refusing: boolean
  close(): Promise<void>
}

const REQUEST_LINE = /^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) \S+ HTTP\/1\.[01]/

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const live = new Set<{ client: Socket; upstream: Socket; silenced: boolean }>()
  const requests: string[] = []
  let accepted = 0
  let refusing = false

  const server = createServer((client) => {
    accepted += 1
    if (refusing) {
      client.resetAndDestroy()
      return
    }
    const upstream = connect(targetPort, '127.0.0.1')
    const pair = { client, upstream, silenced: false }
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
    const endUnlessSilenced = () => {
      if (!pair.silenced) end()
    }
    client.on('error', end)
    upstream.on('error', endUnlessSilenced)
    client.on('close', end)
    upstream.on('close', endUnlessSilenced)
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
    silence() {
      for (const pair of live) {
        pair.silenced = true
        pair.upstream.unpipe(pair.client)
        pair.upstream.resume() // read and discard, so the server is not held back by the silence
      }
      return live.size
    },
    get refusing() {
      return refusing
    },
    set refusing(value: boolean) {
      refusing = value
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
