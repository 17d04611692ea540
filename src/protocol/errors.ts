/** @module protocol/errors — the one table of error codes, shared by WebSocket and HTTP. */

/** JSON-RPC 2.0 error codes used by cc-executor (standard ones, then the server range). */
export const ErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  COMMAND_NOT_ALLOWED: -32001,
  NO_SUCH_PROCESS: -32002,
  SESSION_LIMIT: -32003,
  UNAUTHORIZED: -32004,
  RATE_LIMITED: -32005,
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** The HTTP status that goes with each code on the `/v1` routes. */
export const httpStatusOf: Record<ErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503> = {
  [ErrorCode.PARSE_ERROR]: 400,
  [ErrorCode.INVALID_REQUEST]: 400,
  [ErrorCode.METHOD_NOT_FOUND]: 404,
  [ErrorCode.INVALID_PARAMS]: 400,
  [ErrorCode.INTERNAL_ERROR]: 500,
  [ErrorCode.COMMAND_NOT_ALLOWED]: 403,
  [ErrorCode.NO_SUCH_PROCESS]: 404,
  [ErrorCode.SESSION_LIMIT]: 503,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.RATE_LIMITED]: 429,
}

/** An error that travels to the client as a JSON-RPC error object. Errors are values with codes. */
export class RpcError extends Error {
  readonly code: ErrorCode
  readonly data: unknown
  constructor(code: ErrorCode, message: string, data?: unknown) {
    super(message)
    this.name = 'RpcError'
    this.code = code
    this.data = data
  }

  toJSON(): { code: ErrorCode; message: string; data?: unknown } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data }
  }
}

/** Any thrown value as an RpcError: unknown faults become -32603 without leaking internals. */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error
  return new RpcError(ErrorCode.INTERNAL_ERROR, 'Internal error')
}
