/** @module protocol/jsonrpc — the JSON-RPC 2.0 envelope: parse one frame, build responses. */
import { ErrorCode, RpcError } from './errors.ts'
import { parseWith, RequestEnvelope, type RequestId } from './schemas.ts'

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
