/** @module protocol/jsonrpc — the JSON-RPC 2.0 envelope: parse one frame, build responses. */
import { ErrorCode, RpcError } from './errors.ts'
import { Frame } from './frame.ts'
import { isPlainJsonText, plainJsonBytes } from './plain-json.ts'
import { parseWith, RequestEnvelope, type ExecutionEvent, type OutputParams, type RequestId, type StreamType } from './schemas.ts'

export type ParsedFrame =
  | { ok: true; id: RequestId | undefined; method: string; params: unknown }
  | { ok: false; id: RequestId; error: RpcError }

/**
 * Turns one text frame into a request, or into the error the client must get:
 * -32700 for text that is not JSON, -32600 for JSON that is not a single JSON-RPC 2.0 request.
 */
export function parseFrame(text: string): ParsedFrame {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, id: null, error: new RpcError(ErrorCode.PARSE_ERROR, 'Parse error: the frame is not valid JSON') }
  }
  if (Array.isArray(json)) {
    return { ok: false, id: null, error: new RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: batch requests are not supported') }
  }
  const parsed = parseWith(RequestEnvelope, json)
  if (!parsed.ok) {
    return { ok: false, id: idOf(json), error: new RpcError(ErrorCode.INVALID_REQUEST, `Invalid Request: ${parsed.message}`) }
  }
  const { id, method, params } = parsed.value
  return { ok: true, id, method, params: params ?? {} }
}

/** The id of a malformed request, when it has a usable one, so the client can match the error. */
function idOf(json: unknown): RequestId {
  if (json === null || typeof json !== 'object') return null
  const id = (json as { id?: unknown }).id
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null
}

export const result = (id: RequestId, value: unknown): string => JSON.stringify({ jsonrpc: '2.0', result: value, id })

export const error = (id: RequestId, err: RpcError): string => JSON.stringify({ jsonrpc: '2.0', error: err.toJSON(), id })

export const notification = (method: string, params: unknown): string => JSON.stringify({ jsonrpc: '2.0', method, params })

/**
 * The wire text of an event parsed by parseReceived(), which a gateway forwards as it came: a
 * non-enumerable property, so a copy (`{ ...event }`, a renumbered event) does not carry it, and
 * JSON.stringify does not see it. (A WeakMap entry per event costs the collector far more.)
 */
const RECEIVED: unique symbol = Symbol('received text')
const keepText = (value: object, line: string) => Object.defineProperty(value, RECEIVED, { value: line })

/** How eventFrame() begins a process.output line, and the member it puts last. */
const OUTPUT_HEAD = '{"jsonrpc":"2.0","method":"process.output","params":{'
const DATA_MEMBER = ',"data":"'

/**
 * JSON.parse for events arriving from another executor: the value keeps its text, so that
 * eventFrame() forwards that text instead of serialising the event again. The value must not be
 * changed afterwards (RemoteExecutor passes events on untouched).
 *
 * A gateway forwards output without reading it, so in a process.output line as eventFrame() writes
 * it (`data` last) only the envelope is parsed now; `data` is parsed if and when it is read. Quotes
 * inside a JSON string are escaped, so the first `,"data":"` is the member itself. Lines of any
 * other shape are parsed whole.
 */
export function parseReceived(line: string): unknown {
  if (line.startsWith(OUTPUT_HEAD) && line.endsWith('"}}')) {
    const at = line.indexOf(DATA_MEMBER, OUTPUT_HEAD.length)
    if (at !== -1) {
      const event = JSON.parse(`${line.slice(0, at)}}}`) as { params: Record<string, unknown> }
      let data: string | undefined
      Object.defineProperty(event.params, 'data', {
        get: () => (data ??= JSON.parse(line.slice(at + DATA_MEMBER.length - 1, -2)) as string),
        enumerable: true,
        configurable: true,
      })
      return keepText(event, line)
    }
  }
  const value: unknown = JSON.parse(line)
  return value !== null && typeof value === 'object' ? keepText(value, line) : value
}

/** Output shorter than this is escaped by JSON.stringify alone, and its text may stay a rope (written, it is flattened at little cost). */
const SHORT_TEXT = 256

/**
 * process.output params as an executor built on executor/recorder makes them: exactly the members
 * of the schema, of its types (seq and the chunk numbers whole), in their wire order with `data`
 * last. eventFrame() writes the text of these itself, without walking them: one event is made per
 * line of output, on the latency path. Params of any other making (plain objects) are serialised.
 */
export class OutputFields implements OutputParams {
  readonly execution_id: string
  readonly seq: number
  readonly type: StreamType
  readonly chunk_index: number
  readonly total_chunks: number
  readonly truncated: boolean
  readonly data: string

  constructor(executionId: string, seq: number, type: StreamType, chunkIndex: number, totalChunks: number, truncated: boolean, data: string) {
    this.execution_id = executionId
    this.seq = seq
    this.type = type
    this.chunk_index = chunkIndex
    this.total_chunks = totalChunks
    this.truncated = truncated
    this.data = data
  }
}

/** An output event's text up to its `data` value: `JSON.stringify` of the event without data, less its closing `}}`. */
function outputHead(params: OutputParams): string {
  if (params instanceof OutputFields) {
    const { execution_id, seq, type, chunk_index, total_chunks, truncated } = params
    return `${OUTPUT_HEAD}"execution_id":${JSON.stringify(execution_id)},"seq":${seq},"type":"${type}","chunk_index":${chunk_index},"total_chunks":${total_chunks},"truncated":${truncated},"data":`
  }
  const { data: _, ...rest } = params
  return `${JSON.stringify({ jsonrpc: '2.0', method: 'process.output', params: rest }).slice(0, -2)},"data":`
}

/**
 * An event's wire form: `JSON.stringify(event)`, with `data` (which may be 64 KiB of output) last.
 * Output is mostly plain text, whose escaping is only `\n` → `\\n`: long ASCII output is written
 * as UTF-8 bytes in one WebAssembly pass (protocol/plain-json), shorter plain text with one
 * replaceAll; both are several times faster than JSON.stringify's character-by-character escaping.
 */
export function eventFrame(event: ExecutionEvent): Frame {
  const received = (event as { [RECEIVED]?: string })[RECEIVED]
  if (received !== undefined) return Frame.ofText(received)
  if (event.method !== 'process.output') return Frame.ofText(JSON.stringify(event))
  const { data } = event.params
  const head = outputHead(event.params)
  if (data.length < SHORT_TEXT) return Frame.ofText(`${head}${JSON.stringify(data)}}}`)
  const line = plainJsonBytes(`${head}"`, data, '"}}\n')
  if (line) return Frame.ofLine(line)
  // Plain text the WebAssembly pass could not take (not ASCII, too long, or no WebAssembly): one replaceAll.
  const value = line === undefined && isPlainJsonText(data) ? `"${data.replaceAll('\n', '\\n')}"` : JSON.stringify(data)
  // join() makes one flat string; `+` would make a rope that every later write has to walk.
  return Frame.ofText([head, value, '}}'].join(''))
}
