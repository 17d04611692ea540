/**
 * @module adapters/node/websocket — the Node socket as a flow-controlled channel. Bytes are counted
 * from send until the socket's write callback, so back-pressure follows the kernel socket without
 * polling, and a ping frame every heartbeat interval ends connections whose peer stopped answering.
 */

import type { WSContext } from 'hono/ws'
import * as ws from 'ws'
import type { WebSocket } from 'ws'
import type { Frame, SocketChannel } from '../../src/index.ts'

/** Messages up to this size sent in one tick are framed into one buffer and written at once. */
const SMALL_MESSAGE = 4096

/** ws's framing of one unmasked, unfragmented, uncompressed text message (the server never compresses). */
const TEXT_FRAME = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false } as const
/** ws's Sender.frame (a public export of ws that its type definitions leave out): [header, payload]. */
const frame = (ws as unknown as { Sender: { frame(data: Uint8Array, options: typeof TEXT_FRAME): Uint8Array[] } }).Sender.frame

/** A message's UTF-8 length; a frame's is counted once, for the transcript and every socket. */
const utf8Length = (message: string | Frame) => (typeof message === 'string' ? Buffer.byteLength(message) : message.utf8Length(Buffer.byteLength))

/** A settled promise: a reaction to it runs once the code running now is done, as a microtask. */
const settled = Promise.resolve()

/** The header of an unmasked, unfragmented text message of `length` <= 65,535 bytes (RFC 6455, 5.2), as latin1 characters. */
function textHeader(length: number): string {
  return length < 126 ? String.fromCharCode(0x81, length) : String.fromCharCode(0x81, 126, length >> 8, length & 0xff)
}

export interface ChannelOptions {
  /** Bytes queued for the socket above which the sender is asked to wait. */
  highWater: number
  /** Bytes at or below which a waiting sender continues. */
  lowWater: number
  /** Milliseconds between ping frames; a peer that missed the previous pong is terminated. */
  pingIntervalMs: number
}

export function nodeChannel(context: WSContext<WebSocket>, { highWater, lowWater, pingIntervalMs }: ChannelOptions): SocketChannel {
  const raw = context.raw!
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

  // The first small message of a tick leaves at once: a line the child printed is on its way while
  // the rest of the read that brought it is still being handled. The tick's later small messages (a
  // burst of events) leave in one write: the socket is corked after the first and uncorked once the
  // tick's work is done, and they are framed (by ws's own framing) into one buffer meanwhile, so a
  // Claude task's thousands of events a second are one write and one callback, not two buffers and a
  // callback each. Larger messages go through ws as they come, after the small ones before them.
  const socket = (raw as unknown as { _socket?: { cork(): void; uncork(): void; write(data: Uint8Array | string, ...rest: unknown[]): boolean } })._socket
  let corked = false
  let small: Uint8Array[] = []
  let smallBytes = 0
  /** What the small messages waiting count in `pending`: their payloads. */
  let smallPayload = 0
  const written = (size: number) => () => {
    pending -= size
    if (pending <= lowWater) release()
  }
  const flushSmall = () => {
    if (small.length === 0) return
    const frames = Buffer.concat(small, smallBytes)
    const size = smallPayload
    small = []
    smallBytes = 0
    smallPayload = 0
    // ws sent its close frame meanwhile (it answers a peer's close itself): nothing may follow it.
    if (raw.readyState !== raw.OPEN) written(size)()
    else socket!.write(frames, written(size))
  }
  const wait = () => {
    if (!drain) {
      let resolve!: () => void
      drain = { promise: new Promise<void>((r) => (resolve = r)), resolve }
    }
    return drain.promise
  }
  const uncork = () => {
    corked = false
    flushSmall()
    socket?.uncork()
  }
  /** After a tick's first small message: the rest of the tick's small messages are gathered (see above). */
  const corkTick = () => {
    corked = true
    socket!.cork()
    // A promise reaction costs the line just written a tenth of what process.nextTick does.
    void settled.then(uncork)
  }

  return {
    send(message) {
      if (raw.readyState !== raw.OPEN) return
      const text = typeof message === 'string' ? message : message.readyText
      if (socket && !corked && text !== undefined && text.length <= SMALL_MESSAGE && utf8Length(message) === text.length) {
        // The first message of a tick, short ASCII text (one UTF-8 byte a character): it goes with its
        // header as one latin1 string, whose bytes are its UTF-8. Node writes it from the string
        // itself, which for a line on its way to a waiting reader costs less than encoding it first.
        pending += text.length
        socket.write(`${textHeader(text.length)}${text}`, 'latin1', written(text.length))
        corkTick()
      } else {
        const bytes = typeof message === 'string' ? Buffer.from(message) : message.bytes
        const size = bytes.byteLength
        pending += size
        if (!socket || size > SMALL_MESSAGE) {
          flushSmall()
          raw.send(bytes, { binary: false }, written(size))
        } else if (!corked) {
          socket.write(Buffer.concat(frame(bytes, TEXT_FRAME)), written(size))
          corkTick()
        } else {
          for (const part of frame(bytes, TEXT_FRAME)) {
            small.push(part)
            smallBytes += part.byteLength
          }
          smallPayload += size
        }
      }
      if (pending > highWater) return wait()
    },
    close(code, reason) {
      if (raw.readyState === raw.OPEN) flushSmall()
      raw.close(code, reason)
    },
  }
}
