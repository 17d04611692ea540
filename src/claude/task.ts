/**
 * @module claude/task — a Claude task over any execution of the Claude Code CLI: its stdout is
 * parsed as stream-json and each content block becomes a `claude.event` right after the
 * process.output that carried it. The output events pass unchanged (the transcript hash covers
 * the bytes Claude printed); seqs are renumbered so the record stays 1, 2, 3, … The completion gets
 * the task's summary (`claude`), and is "completed" only for exit 0 with a result that is no error.
 */
import type { EventSink, ExecutionHandle } from '../executor/executor.ts'
import type { ClaudeSummary, CompletedEvent, ExecutionEvent } from '../protocol/schemas.ts'
import { StreamJsonParser, type ClaudeEventFields } from './stream-json.ts'

const MAX_REASON_TEXT = 300

/** The completion a Claude task gets from its process's completion and what it printed. */
export function claudeCompletion(inner: CompletedEvent, parser: StreamJsonParser, seq: number): CompletedEvent {
  const claude: ClaudeSummary = parser.result
    ? { ...parser.result }
    : { session_id: parser.sessionId, subtype: null, is_error: true, num_turns: null, total_cost_usd: null, duration_ms: null, duration_api_ms: null, usage: null, result: null, terminal_reason: null }
  let { status, reason } = inner.params
  if (status === 'completed' && !parser.result) {
    status = 'failed'
    reason = 'Claude Code exited without a result'
  } else if (parser.result?.is_error) {
    const said = (parser.result.result ?? parser.result.subtype ?? 'error').slice(0, MAX_REASON_TEXT)
    if (status === 'completed') status = 'failed'
    reason = `Claude reported an error: ${said}`
  }
  return { ...inner, params: { ...inner.params, seq, status, reason, claude } }
}

/**
 * Wraps the handle of a running Claude Code process into a Claude task's handle.
 *
 * @example
 * const task = claudeTask(await executor.start({ argv: claudeArgv(bin, params), execution_id }))
 */
export function claudeTask(inner: ExecutionHandle): ExecutionHandle {
  const parser = new StreamJsonParser()
  let seq = 0
  let resolveCompleted!: (event: CompletedEvent) => void
  const completed = new Promise<CompletedEvent>((resolve) => (resolveCompleted = resolve))
  const claudeEvent = (fields: ClaudeEventFields): ExecutionEvent => {
    seq += 1
    return { jsonrpc: '2.0', method: 'claude.event', params: { execution_id: inner.id, seq, ...fields } }
  }

  /** One event of the process as the task's events: itself renumbered, then what was parsed from it. */
  const translate = (event: ExecutionEvent, into: ExecutionEvent[]): void => {
    if (event.method === 'process.completed') {
      for (const fields of parser.end()) into.push(claudeEvent(fields))
      seq += 1
      const completion = claudeCompletion(event, parser, seq)
      into.push(completion)
      resolveCompleted(completion)
      return
    }
    seq += 1
    // Events are never changed: a renumbered copy keeps the original (which may carry its wire text) intact.
    into.push({ ...event, params: { ...event.params, seq } } as ExecutionEvent)
    if (event.method === 'process.output' && event.params.type === 'stdout') {
      for (const fields of parser.write(event.params.data)) into.push(claudeEvent(fields))
    }
  }

  const listen = inner.listen?.bind(inner)
  let reader: ReadableStreamDefaultReader<ExecutionEvent> | undefined
  const events = new ReadableStream<ExecutionEvent>(
    {
      async pull(controller) {
        reader ??= inner.events.getReader()
        const { value: event, done } = await reader.read()
        if (done) return controller.close()
        const out: ExecutionEvent[] = []
        translate(event, out)
        for (const e of out) controller.enqueue(e)
        if (event.method === 'process.completed') controller.close()
      },
      async cancel(reason) {
        await reader?.cancel(reason)
        // Nobody reads any more; the completion is still reported, from what was parsed.
        void inner.completed.then((event) => resolveCompleted(claudeCompletion(event, parser, seq + 1)))
      },
    },
    { highWaterMark: 0 },
  )

  return {
    id: inner.id,
    pid: inner.pid,
    pgid: inner.pgid,
    command: inner.command,
    get state() {
      return inner.state
    },
    get activity() {
      return parser.toolInUse ? `tool in use: ${parser.toolInUse}` : parser.sessionId ? 'Claude is thinking' : null
    },
    get claudeCwd() {
      return parser.cwd
    },
    events,
    // Where the process's events are pushed, so are the task's, in the same call.
    ...(listen && {
      listen: (sink: EventSink) =>
        listen({
          push: (batch) => {
            const out: ExecutionEvent[] = []
            for (const event of batch) translate(event, out)
            return sink.push(out)
          },
        }),
    }),
    control: (type, reason) => inner.control(type, reason),
    write: (data, eof) => inner.write(data, eof),
    completed,
  }
}
