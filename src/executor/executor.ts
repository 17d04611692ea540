/**
 * @module executor — what the portable app needs from whatever runs processes: the Node adapter's
 * LocalExecutor spawns them, a gateway's RemoteExecutor forwards to another cc-executor.
 */
import type { ClaudeParams } from '../claude/params.ts'
import type { ListFilter } from '../protocol/list-filter.ts'
import type { ExecutionRecord, VerifyResult } from '../protocol/records.ts'
import type { ExecutionStore } from '../executions/store.ts'
import type { CompletedEvent, ControlType, ExecuteParams, ExecutionEvent } from '../protocol/schemas.ts'

export type ExecutionState = 'running' | 'paused' | 'exited'

/**
 * A control's result when a gateway could not deliver a CANCEL or KILL to the executor that runs
 * the execution (unreachable, restarting): it keeps it and sends it again until `retry_until`
 * (Unix seconds), once the executor answers or the gateway follows the execution again. The
 * execution's completion then says how it ended.
 */
export interface PendingControl {
  status: 'pending'
  type: 'CANCEL' | 'KILL'
  retry_until: number
  message: string
}

/** Events taken from an execution at once, at most: one push to an EventSink, one transcript write. */
export const MAX_BATCH = 256

/** Where `listen` pushes events: in seq order, at least one and at most MAX_BATCH a call. */
export interface EventSink {
  /** Returns false when the consumer is full: nothing more is pushed until `EventFlow.more()`. */
  push(events: ExecutionEvent[]): boolean
}

export interface EventFlow {
  /** The consumer has room again. */
  more(): void
}

/** One started execution. */
export interface ExecutionHandle {
  readonly id: string
  readonly pid: number | null
  readonly pgid: number | null
  /** What the client asked to run, for display (`command`, or argv joined). */
  readonly command: string
  /**
   * The execution's events in seq order (1, 2, 3, … no gaps), from process.started to
   * process.completed, after which the stream closes (a remote executor's also closes without it
   * once its `close()` stopped following the execution, which runs on). Reading slowly is back-pressure: an
   * executor stops reading the child's pipes while this stream's queue is full.
   */
  readonly events: ReadableStream<ExecutionEvent>
  /**
   * The same events pushed as they happen, where an executor can: its consumer then handles each
   * one in the call that produced it (the read of the child's pipe), not a few promise turns later.
   * A handle is read either way, not both.
   */
  listen?(sink: EventSink): EventFlow
  readonly state: ExecutionState
  /** What it is doing while it prints nothing (e.g. a Claude task's tool in use), for process.status. */
  readonly activity?: string | null
  /** A Claude task's working directory as Claude Code reported it (its init event), once known. */
  readonly claudeCwd?: string | null
  /** Where it runs, when that is one of several places (a pool's executor URL): its record's `executor`. */
  readonly owner?: string
  /**
   * Where its events can be read again once memory no longer holds them, when the app has no store
   * of its own (a gateway's: its executor's transcript). Late subscribers and slow ones read there.
   */
  readonly history?: ExecutionStore
  /**
   * Sends a signal to the process group; `reason` (why, in words) becomes the completion's reason
   * when it ends it. Throws RpcError(-32002) once the execution has ended.
   */
  control(type: ControlType, reason?: string): Promise<{ status: string }>
  /** Writes to the child's stdin (needs `stdin: "pipe"`); resolves once the pipe accepted it. */
  write(data: string, eof: boolean): Promise<{ written: number }>
  /** Resolves with the one process.completed event, once the whole process group is gone. */
  readonly completed: Promise<CompletedEvent>
}

/** Starts executions. Throws RpcError (-32001, -32602, -32603) when it cannot. */
/** How an execution is started, beyond its params. */
export interface LaunchOptions {
  /**
   * It outlives every client (HTTP `detach: true`): an executor that follows it over a connection
   * (a gateway's RemoteExecutor) starts it detached there too, so that losing that connection, or
   * the gateway, does not end it.
   */
  detached?: boolean
}

export interface Executor {
  start(params: ExecuteParams & { execution_id: string }, options?: LaunchOptions): Promise<ExecutionHandle>
  /**
   * Runs a Claude task whose events already carry claude.event and the summary (a gateway's
   * RemoteExecutor forwards it whole). Without it, the app runs the CLI through `start`.
   */
  startClaude?(params: ClaudeParams & { execution_id: string }, options?: LaunchOptions): Promise<ExecutionHandle>
  /** Verifies an execution where its transcripts are (a gateway's RemoteExecutor asks the upstream). */
  verify?(id: string): Promise<VerifyResult>
  /**
   * An id for an execution whose client named none. A pool chooses the executor here and names it in
   * the id, so that the id alone routes back to it; `near`: an execution whose executor it must be
   * (a Claude task that continues another needs that one's session files).
   */
  newId?(near?: string): Promise<string>
  /**
   * An execution the app does not hold (a pool's: started through another gateway, or before a
   * restart), found where it runs, with its record: a running one with a handle that follows it
   * from its first event, an ended one with a store that reads its events from there.
   * Throws -32002 when no executor has it, -32003 naming the executor that could have it but is down.
   */
  adopt?(id: string): Promise<{ record: ExecutionRecord } & ({ handle: ExecutionHandle } | { history: ExecutionStore })>
  /**
   * Whether the app's own copy of an execution it holds may be served. Throws -32003 naming its
   * executor when that is down; false: the copy is stale (its stream broke before its end), and the
   * execution is to be adopted afresh from where it runs.
   */
  vouch?(id: string): Promise<boolean>
  /**
   * A CANCEL or KILL of an execution that the app could not look up because its executor is
   * unavailable (`error`, the -32003 that said so): kept and delivered once the executor answers
   * (a pool's, see PendingControl). Throws `error` again when it cannot keep it.
   */
  defer?(id: string, type: ControlType, reason: string | undefined, error: unknown): Promise<PendingControl>
  /** The records of every executor (a pool asks them all), the newest `limit` that match `filter`, and the executors that did not answer. */
  list?(limit: number, filter?: ListFilter): Promise<{ executions: ExecutionRecord[]; unavailable: string[] }>
  /**
   * Its handles' I/O belongs to the request that opened them, and stops with it (a Worker's): a
   * running execution that no subscriber follows may have lost its stream, so the app does not hold
   * it, and finds it afresh (adopt) where it runs when it is asked for.
   */
  readonly requestScoped?: boolean
  /**
   * Its executions run on another host (a gateway's RemoteExecutor, a pool of them), not in this
   * process: when the app shuts down it leaves them running there, for their clients to attach to
   * again (through another gateway, or this one restarted) within their detach grace, instead of
   * cancelling them (see ExecutionRegistry.shutdown).
   */
  readonly remote?: boolean
  /**
   * Server shutdown: ends every execution and waits for their process groups; a remote executor
   * instead stops following its executions (their event streams end without a completion) and
   * leaves them running where they run.
   */
  close?(): Promise<void>
}

/** The reason of an execution canceled because its server shuts down (a gateway's are left running: Executor.remote). */
export const SHUTTING_DOWN = 'canceled: the server is shutting down'
