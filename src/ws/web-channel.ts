/**
 * @module ws/web-channel — a runtime's own WebSocket (Deno's, Bun's, a Worker's) as a
 * flow-controlled channel, the default of every app that is not given one (the Node server gives
 * its own). After a send that leaves more than `highWater` bytes buffered in the runtime, the
 * sender waits until the runtime has written it down to `lowWater`, so a slow client holds the
 * execution back instead of the runtime's memory growing with its backlog. Runtimes tell how much
 * is buffered differently (WebSocket.bufferedAmount; Bun's ServerWebSocket.getBufferedAmount());
 * one that tells nothing is sent to without waiting.
 */
import type { WSContext } from 'hono/ws'
import type { SocketChannel } from './session.ts'

export interface WebChannelOptions {
  highWater: number
  lowWater: number
  /** How often a waiting sender looks again: runtimes fire no event when their buffer drains. */
  pollMs?: number
}

type Buffering = { bufferedAmount?: unknown; getBufferedAmount?: () => unknown }

/** Bytes the runtime holds for the socket, or undefined when it does not say. */
function bufferedOf(raw: unknown): number | undefined {
  if (raw === null || typeof raw !== 'object') return undefined
  const socket = raw as Buffering
  const amount = typeof socket.getBufferedAmount === 'function' ? socket.getBufferedAmount() : socket.bufferedAmount
  return typeof amount === 'number' && Number.isFinite(amount) ? amount : undefined
}

const OPEN = 1

export function webChannel(ws: WSContext<any>, { highWater, lowWater, pollMs = 1 }: WebChannelOptions): SocketChannel {
  return {
    send(message) {
      ws.send(typeof message === 'string' ? message : message.text)
      const buffered = bufferedOf(ws.raw)
      if (buffered === undefined || buffered <= highWater) return
      return new Promise<void>((resolve) => {
        const look = () => {
          const now = bufferedOf(ws.raw)
          // A socket that closed meanwhile will never drain: its sender goes on (and stops at the close).
          if (now === undefined || now <= lowWater || ws.readyState !== OPEN) resolve()
          else setTimeout(look, pollMs)
        }
        setTimeout(look, pollMs)
      })
    },
    close(code, reason) {
      ws.close(code, reason)
    },
  }
}
