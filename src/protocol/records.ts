/**
 * @module protocol/records — an execution's record on the wire: what `status` and `list` return, what
 * the HTTP API serves and what the file store keeps; and what `verify` answers. Clients read them;
 * the server makes them.
 */
import type { ClaudeSummary, CompletedParams } from './schemas.ts'

/** What is known of an execution, live or finished; also what `list` and `status` return. */
export interface ExecutionRecord {
  id: string
  execution_id: string
  /** "claude" for a Claude task (its events include claude.event), else "command". */
  kind: 'command' | 'claude'
  label: string | null
  /** "pipe" while its stdin is open for `input`; "close" otherwise. */
  stdin: 'pipe' | 'close'
  command: string
  /** The working directory it was started in, as requested; null for the server's own. */
  cwd: string | null
  state: 'running' | 'paused' | 'exited'
  status: CompletedParams['status'] | 'running' | 'paused'
  pid: number | null
  pgid: number | null
  /** Who started it: a WebSocket session id, or "http". */
  started_by: string
  /** The id of the token it was started with (never the token), or null on an open server. */
  token_id: string | null
  started_at: string
  ended_at: string | null
  exit_code: number | null
  signal: string | null
  reason: string | null
  execution_time: number | null
  stdout_bytes: number | null
  stderr_bytes: number | null
  dropped_bytes: number | null
  transcript_sha256: CompletedParams['transcript_sha256']
  /** A finished Claude task's summary (its completion's `claude`). */
  claude: ClaudeSummary | null
  /** Where Claude Code keeps that session's own transcript, on the executor's host. */
  claude_transcript: string | null
  last_seq: number
  subscribers: number
  /** The executor it runs on, as a gateway over a pool of them knows it (its URL); absent elsewhere. */
  executor?: string
}

/** One check of `verify`; a failed one says why in `detail`. */
export interface Check {
  name: string
  ok: boolean
  detail: string
}

/** What `verify` (GET /v1/executions/{id}/verify) answers. */
export interface VerifyResult {
  execution_id: string
  verified: boolean
  checks: Check[]
}
