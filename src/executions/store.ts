/**
 * @module executions/store — where executions are kept beyond memory: one transcript per execution
 * (every event, in seq order, appended before it is sent) and one record. The Node server keeps them
 * in files under CC_EXECUTOR_DATA_DIR; an app without a store keeps recent events in memory only.
 */
import type { Frame } from '../protocol/frame.ts'
import type { ExecutionRecord } from '../protocol/records.ts'

export type { ExecutionRecord } from '../protocol/records.ts'

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
