/**
 * @module adapters/node/websocket — the Node socket as a flow-controlled channel. Bytes are counted
 * from send until ws's write callback, so back-pressure follows the kernel socket without polling,
 * and a ping frame every heartbeat interval ends connections whose peer stopped answering.
 */
import type { WSContext } from 'hono/ws'
import type { WebSocket } from 'ws'
import type { SocketChannel } from '../../src/index.ts'

export interface ChannelOptions {
  /** Bytes queued for the socket above which the sender is asked to wait. */
  highWater: number
  /** Bytes at or below which a waiting sender continues. */
  lowWater: number
  /** Milliseconds between ping frames; a peer that missed the previous pong is terminated. */
  pingIntervalMs: number
}

export function nodeChannel(ws: WSContext<WebSocket>, { highWater, lowWater, pingIntervalMs }: ChannelOptions): SocketChannel {
  const raw = ws.raw!
  let pending = 0
  let drain: { promise: Promise<void>; resolve: () => void } | undefined
  const release = () => {
    drain?.resolve()
    drain = undefined
  }

  let alive = true
  raw.on('pong', () => (alive = true))
  const pinger = setInterval(() => {
    if (!alive) return raw.terminate()
    alive = false
    raw.ping()
  }, pingIntervalMs)
  raw.once('close', () => {
    clearInterval(pinger)
    release()
  })

  // Frames sent in one tick (a burst of small events) leave in one write: the socket is corked at the
  // first and uncorked once the tick's work is done. ws's own cork per frame nests inside.
  const socket = (raw as unknown as { _socket?: { cork(): void; uncork(): void } })._socket
  let corked = false
  const uncork = () => {
    corked = false
    socket?.uncork()
  }

  return {
    send(message) {
      if (raw.readyState !== raw.OPEN) return
      if (socket && !corked) {
        corked = true
        socket.cork()
        process.nextTick(uncork)
      }
      const bytes = typeof message === 'string' ? Buffer.from(message) : message.bytes
      const size = bytes.byteLength
      pending += size
      raw.send(bytes, { binary: false }, () => {
        pending -= size
        if (pending <= lowWater) release()
      })
      if (pending > highWater) {
        if (!drain) {
          let resolve!: () => void
          drain = { promise: new Promise<void>((r) => (resolve = r)), resolve }
        }
        return drain.promise
      }
    },
    close(code, reason) {
      raw.close(code, reason)
    },
  }
}
