/**
 * @module client/errors — what a client call can throw. A server's refusal is an ExecutorError,
 * an RpcError carrying the JSON-RPC code (-32602 bad params, -32601 unknown method, -32002 no such
 * execution, -32004 unauthorized, …). A transport fault, where the server said nothing, is a
 * ConnectionError.
 */
import { ErrorCode, RpcError, type ErrorCode as Code } from '../protocol/errors.ts'

/** The server answered with a JSON-RPC error (over WebSocket, or as an HTTP error body). */
export class ExecutorError extends RpcError {
  /** The HTTP status, when the answer came over HTTP. */
  readonly status: number | undefined
  constructor(code: number, message: string, data?: unknown, status?: number) {
    super(code as Code, message, data)
    this.name = 'ExecutorError'
    this.status = status
  }

  /** Builds one from a JSON-RPC error object (or anything shaped like one). */
  static from(error: { code?: unknown; message?: unknown; data?: unknown }, status?: number): ExecutorError {
    const code = typeof error.code === 'number' ? error.code : ErrorCode.INTERNAL_ERROR
    const message = typeof error.message === 'string' ? error.message : 'Unknown error'
    return new ExecutorError(code, message, error.data, status)
  }
}

/** Why a connection ended: it closed or failed, or the server went silent (the heartbeat watchdog). */
export type ConnectionFault = 'closed' | 'failed' | 'silent' | 'protocol' | 'closed-by-client'

/** The connection failed or was lost; nothing says whether the server acted on the last request. */
export class ConnectionError extends Error {
  readonly fault: ConnectionFault
  /** True once a request that starts something (execute) may have reached the server. */
  requestSent = false
  constructor(message: string, fault: ConnectionFault = 'failed', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ConnectionError'
    this.fault = fault
  }
}

/** Errors after which reconnecting cannot help. */
export function isFatal(error: unknown): boolean {
  if (!(error instanceof ExecutorError)) return false
  return error.code !== ErrorCode.SESSION_LIMIT && error.code !== ErrorCode.RATE_LIMITED && error.code !== ErrorCode.INTERNAL_ERROR
}

export { ErrorCode, RpcError }
