/**
 * @module adapters/cloudflare/websocket — upgradeWebSocket for Workers that also fires `onOpen`.
 * hono/cloudflare-workers never calls onOpen (the server end of a WebSocketPair has no open event),
 * but the protocol's first frame, `connected`, is sent from onOpen; after `accept()` the server end
 * can send at once, and what it sends is delivered after the 101.
 */
import { defineWebSocketHelper, WSContext } from 'hono/ws'

// The Workers globals this file uses, declared here so that the project's type check needs no Workers types.
interface WorkersWebSocket {
  accept(): void
  send(data: string | ArrayBuffer | Uint8Array): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'message' | 'close' | 'error', listener: (event: any) => void): void
  readonly readyState: 0 | 1 | 2 | 3
  readonly protocol?: string
  readonly url?: string | null
}
declare const WebSocketPair: { new (): { 0: WorkersWebSocket; 1: WorkersWebSocket } }

export const upgradeWebSocket = defineWebSocketHelper<WorkersWebSocket>(async (c, events) => {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return
  const { 0: client, 1: server } = new WebSocketPair()
  const ws = new WSContext<WorkersWebSocket>({
    send: (source) => server.send(source as string | ArrayBuffer | Uint8Array),
    close: (code, reason) => server.close(code, reason),
    raw: server,
    get readyState() {
      return server.readyState
    },
    protocol: server.protocol ?? null,
    url: server.url ? new URL(server.url) : null,
  })
  server.addEventListener('message', (event) => events.onMessage?.(event, ws))
  server.addEventListener('close', (event) => events.onClose?.(event, ws))
  server.addEventListener('error', (event) => events.onError?.(event, ws))
  server.accept()
  events.onOpen?.(new Event('open'), ws)
  return new Response(null, { status: 101, webSocket: client } as ResponseInit)
})
