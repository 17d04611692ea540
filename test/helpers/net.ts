/** Network helpers for the tests and the bench. */
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'

/** A port on 127.0.0.1 that was free a moment ago (listened on 0, read, closed): for servers that bind it themselves. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}
