/**
 * @module observer — what the app reports as it works, for the host's audit log and metrics. Every
 * hook is optional and must not throw; the Node server turns them into pino lines and prom-client
 * series. Token values never appear here: only their ids.
 */
import type { ExecutionRecord } from './protocol/records.ts'
import type { ControlType, ExecuteParams } from './protocol/schemas.ts'

export interface Observer {
  sessionOpened?(info: { session_id: string; token_id: string | null }): void
  sessionClosed?(info: { session_id: string; token_id: string | null; seconds: number }): void
  executionStarted?(record: ExecutionRecord, params: ExecuteParams): void
  control?(info: { execution_id: string; type: ControlType; token_id: string | null }): void
  executionEnded?(record: ExecutionRecord): void
  /** A request refused before anything ran: auth, allow-list, limits. */
  refused?(info: { code: number; reason: string; token_id: string | null }): void
  authFailed?(info: { reason: 'missing' | 'invalid'; path: string }): void
}
