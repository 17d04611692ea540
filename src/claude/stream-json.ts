/**
 * @module claude/stream-json — Claude Code's `--output-format stream-json` read incrementally: the
 * text of stdout in, one `claude.event` payload per content block out. Lines may arrive split
 * across reads and may be megabytes long (a tool result); they are kept as pieces and joined once.
 * A line that is not JSON, or of a type this does not know, yields nothing: it stays plain output.
 */

/** What a claude.event carries besides execution_id and seq. */
export type ClaudeEventFields =
  | { kind: 'init'; session_id: string | null; model: string | null; cwd: string | null; tools: string[] }
  | { kind: 'text'; text: string; text_truncated?: true; text_length?: number; parent_tool_use_id?: string }
  | { kind: 'tool_use'; id: string; name: string; input: unknown; parent_tool_use_id?: string }
  | { kind: 'tool_result'; tool_use_id: string; content: string; content_truncated?: true; content_length?: number; is_error: boolean; parent_tool_use_id?: string }
  | { kind: 'retry'; attempt: number | null; retry_delay_ms: number | null; error_status: number | null; error: string | null }
  | { kind: 'rate_limit'; status: string | null; resets_at: number | null; error: string | null }
  | ({ kind: 'result' } & ClaudeResult)

/** The summary of a Claude task: its last `result` line, as process.completed's `claude` carries it. */
export interface ClaudeResult {
  session_id: string | null
  subtype: string | null
  is_error: boolean
  num_turns: number | null
  total_cost_usd: number | null
  duration_ms: number | null
  duration_api_ms: number | null
  usage: unknown
  result: string | null
  terminal_reason: string | null
}

type Json = Record<string, unknown>

/**
 * Characters of a text or tool result a claude.event carries. Longer ones are cut there and say so
 * (`*_truncated`, `*_length`): the whole of it is in the raw process.output, byte for byte, and a
 * structured copy of megabytes would triple the memory a line takes while it passes.
 */
export const MAX_EVENT_TEXT = 65_536

function clipped<K extends string>(key: K, text: string): Record<K, string> {
  if (text.length <= MAX_EVENT_TEXT) return { [key]: text } as Record<K, string>
  return { [key]: text.slice(0, MAX_EVENT_TEXT), [`${key}_truncated`]: true, [`${key}_length`]: text.length } as Record<K, string>
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null)
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null)
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)
/** Assistant errors that mean "too many requests" rather than a failed request. */
const RATE_ERRORS = new Set(['rate_limit', 'overloaded', 'overloaded_error', 'rate_limit_error'])

/** A tool result's content as text: a string as it is, the text blocks of a block list joined. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return content === undefined || content === null ? '' : JSON.stringify(content)
  return content
    .map((block) => (isObject(block) && block.type === 'text' && typeof block.text === 'string' ? block.text : ''))
    .join('')
}

function parent(line: Json): { parent_tool_use_id?: string } {
  return typeof line.parent_tool_use_id === 'string' ? { parent_tool_use_id: line.parent_tool_use_id } : {}
}

/** The events of one parsed stream-json line (none for a type this does not know). */
export function eventsOf(line: Json): ClaudeEventFields[] {
  switch (line.type) {
    case 'system':
      if (line.subtype === 'init') {
        const tools = Array.isArray(line.tools) ? line.tools.filter((t): t is string => typeof t === 'string') : []
        return [{ kind: 'init', session_id: str(line.session_id), model: str(line.model), cwd: str(line.cwd), tools }]
      }
      if (line.subtype === 'api_retry') {
        return [{ kind: 'retry', attempt: num(line.attempt), retry_delay_ms: num(line.retry_delay_ms), error_status: num(line.error_status), error: str(line.error) }]
      }
      return []
    case 'rate_limit_event': {
      const info = isObject(line.rate_limit_info) ? line.rate_limit_info : {}
      return [{ kind: 'rate_limit', status: str(info.status), resets_at: num(info.resetsAt ?? info.resets_at), error: null }]
    }
    case 'assistant': {
      const content = isObject(line.message) && Array.isArray(line.message.content) ? line.message.content : []
      const events: ClaudeEventFields[] = []
      if (typeof line.error === 'string' && RATE_ERRORS.has(line.error)) events.push({ kind: 'rate_limit', status: 'rejected', resets_at: null, error: line.error })
      for (const block of content) {
        if (!isObject(block)) continue
        if (block.type === 'text' && typeof block.text === 'string') events.push({ kind: 'text', ...clipped('text', block.text), ...parent(line) })
        else if (block.type === 'tool_use') events.push({ kind: 'tool_use', id: str(block.id) ?? '', name: str(block.name) ?? '', input: block.input ?? null, ...parent(line) })
      }
      return events
    }
    case 'user': {
      const content = isObject(line.message) && Array.isArray(line.message.content) ? line.message.content : []
      const events: ClaudeEventFields[] = []
      for (const block of content) {
        if (!isObject(block) || block.type !== 'tool_result') continue
        events.push({ kind: 'tool_result', tool_use_id: str(block.tool_use_id) ?? '', ...clipped('content', contentText(block.content)), is_error: block.is_error === true, ...parent(line) })
      }
      return events
    }
    case 'result':
      return [{ kind: 'result', ...resultOf(line) }]
    default:
      return []
  }
}

export function resultOf(line: Json): ClaudeResult {
  return {
    session_id: str(line.session_id),
    subtype: str(line.subtype),
    is_error: line.is_error === true,
    num_turns: num(line.num_turns),
    total_cost_usd: num(line.total_cost_usd),
    duration_ms: num(line.duration_ms),
    duration_api_ms: num(line.duration_api_ms),
    usage: line.usage ?? null,
    result: str(line.result),
    terminal_reason: str(line.terminal_reason),
  }
}

/**
 * Reads stream-json text as it comes and keeps what a task's summary needs: the session id, the
 * last result, and the tool in use (for the status shown while Claude is quiet).
 *
 * @example
 * const parser = new StreamJsonParser()
 * for (const event of parser.write(chunk)) send(event)
 * for (const event of parser.end()) send(event)
 */
export class StreamJsonParser {
  /** The current line's pieces, joined only once its newline comes. */
  #pieces: string[] = []
  sessionId: string | null = null
  result: ClaudeResult | undefined
  /** The name of the last tool called whose result has not come yet. */
  toolInUse: string | null = null
  readonly #pendingTools = new Map<string, string>()

  write(text: string): ClaudeEventFields[] {
    let newline = text.indexOf('\n')
    if (newline === -1) {
      if (text !== '') this.#pieces.push(text)
      return []
    }
    const events: ClaudeEventFields[] = []
    let start = 0
    while (newline !== -1) {
      const tail = text.slice(start, newline)
      let line = tail
      if (this.#pieces.length > 0) {
        this.#pieces.push(tail)
        line = this.#pieces.join('')
        this.#pieces = []
      }
      this.#line(line, events)
      start = newline + 1
      newline = text.indexOf('\n', start)
    }
    if (start < text.length) this.#pieces.push(text.slice(start))
    return events
  }

  /** stdout closed: a last line without its newline still counts. */
  end(): ClaudeEventFields[] {
    const events: ClaudeEventFields[] = []
    if (this.#pieces.length > 0) this.#line(this.#pieces.join(''), events)
    this.#pieces = []
    return events
  }

  #line(line: string, into: ClaudeEventFields[]): void {
    // Every stream-json line is an object; anything else is a program's plain output.
    if (line.charCodeAt(0) !== 123 /* { */) return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      return
    }
    if (!isObject(json)) return
    for (const event of eventsOf(json)) {
      this.#observe(event)
      into.push(event)
    }
  }

  #observe(event: ClaudeEventFields): void {
    if (event.kind === 'init' && event.session_id) this.sessionId = event.session_id
    else if (event.kind === 'result') {
      const { kind: _, ...result } = event
      this.result = result
      if (event.session_id) this.sessionId ??= event.session_id
    } else if (event.kind === 'tool_use') {
      this.#pendingTools.set(event.id, event.name)
      this.toolInUse = event.name
    } else if (event.kind === 'tool_result') {
      this.#pendingTools.delete(event.tool_use_id)
      this.toolInUse = [...this.#pendingTools.values()].at(-1) ?? null
    }
  }
}
