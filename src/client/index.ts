/**
 * @module cc-executor/client — a typed client for cc-executor that runs on Node, Deno, Bun, browsers
 * and Workers (Web-standard APIs only). See docs/client.md and docs/protocol.md.
 *
 * @example
 * import { ExecutorClient } from 'cc-executor/client'
 * const client = new ExecutorClient({ url: 'http://127.0.0.1:8003' })
 * const run = await client.execute({ argv: ['ls', '-la'] })
 * await run.stdout.pipeTo(someWritable)
 * console.log((await run.completed).exit_code)
 */
export { ExecutorClient, type ClientOptions, type FollowOptions, type Started, type Transcript, type Transport } from './client.ts'
export { Run, type ClientEvent, type ConnectionState, type ExecuteRequest, type GapEvent, type ReconnectInfo, type RunState } from './run.ts'
export { ConnectionError, ErrorCode, ExecutorError, RpcError, type ConnectionFault } from './errors.ts'
export { endpoints, type Endpoints } from './endpoints.ts'
export type { WebSocketConstructor, WebSocketLike } from './ws.ts'
export type { CompletedParams, ControlType, ExecutionEvent } from '../protocol/schemas.ts'
export type { Check, ExecutionRecord, VerifyResult } from '../protocol/records.ts'
export type { ClaudeParams } from '../claude/params.ts'
export type { ClaudeEventFields, ClaudeResult } from '../claude/stream-json.ts'
