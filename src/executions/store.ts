/**
 * @module executions/store — where executions are kept beyond memory: one transcript per execution
 * (every event, in seq order, appended before it is sent) and one record. The Node server keeps them
 * in files under CC_EXECUTOR_DATA_DIR; an app without a store keeps recent events in memory only.
 */
import type { Frame } from '../protocol/frame.ts'
import type { ClaudeSummary, CompletedParams } from '../protocol/schemas.ts'

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
}

export interface TranscriptWriter {
  /** Appends events (their wire forms, in seq order); resolves once they are written (before any is sent). */
  append(frames: readonly Frame[]): void | Promise<void>
  /** Stores the final record and closes the transcript. */
  finish(record: ExecutionRecord): Promise<void>
}

export interface ExecutionStore {
  /** Whether an execution with this id has a record here (also one the registry no longer holds in memory). */
  has(id: string): boolean
  /** Starts the transcript and record of a new execution. */
  create(record: ExecutionRecord): Promise<TranscriptWriter>
  /** The transcript's event lines (JSON text) with seq >= fromSeq and seq <= toSeq, in order. */
  read(id: string, fromSeq: number, toSeq?: number): AsyncIterable<string>
  /** Records of finished executions, oldest first (after a restart: those of earlier runs). */
  records(): Promise<ExecutionRecord[]>
}
