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
  | { kind: 'tool_use'; id: string; name: string; input: unknown; input_truncated?: true; parent_tool_use_id?: string }
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

import { LongLine } from './long-line.ts'

type Json = Record<string, unknown>

/**
 * Characters of a text or tool result a claude.event carries. Longer ones are cut there and say so
 * (`*_truncated`, `*_length`): the whole of it is in the raw process.output, byte for byte, and a
 * structured copy of megabytes would triple the memory a line takes while it passes.
 */
export const MAX_EVENT_TEXT = 65_536

/**
 * A line longer than this is read as its skeleton (claude/long-line) rather than held whole: its
 * strings are cut at MAX_EVENT_TEXT as it comes, which is all of them an event carries.
 */
export const LONG_LINE = 1024 * 1024

/** The largest skeleton of a long line; a line whose structure alone is larger stays plain output. */
const MAX_SKELETON = 4 * 1024 * 1024

/** A string's full length: its own, or for one cut in a long line's skeleton, the length it had. */
type LengthOf = (text: string) => number
const ownLength: LengthOf = (text) => text.length

function clipped<K extends string>(key: K, text: string, length = text.length): Record<K, string> {
  if (length <= MAX_EVENT_TEXT) return { [key]: text } as Record<K, string>
  return { [key]: text.slice(0, MAX_EVENT_TEXT), [`${key}_truncated`]: true, [`${key}_length`]: length } as Record<K, string>
}

/** Whether a value holds a string that a long line's skeleton cut. */
function holdsCut(value: unknown, lengthOf: LengthOf): boolean {
  if (typeof value === 'string') return lengthOf(value) !== value.length
  if (Array.isArray(value)) return value.some((item) => holdsCut(item, lengthOf))
  return isObject(value) && Object.values(value).some((item) => holdsCut(item, lengthOf))
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
  return textBlocks(content).join('')
}

const textBlocks = (content: unknown[]): string[] =>
  content.map((block) => (isObject(block) && block.type === 'text' && typeof block.text === 'string' ? block.text : ''))

/** contentText() with its full length (which a long line's cut strings make longer than the text). */
function contentClipped(content: unknown, lengthOf: LengthOf): Record<'content', string> {
  if (!Array.isArray(content)) {
    const text = contentText(content)
    return clipped('content', text, lengthOf(text))
  }
  const blocks = textBlocks(content)
  return clipped('content', blocks.join(''), blocks.reduce((sum, text) => sum + lengthOf(text), 0))
}

function parent(line: Json): { parent_tool_use_id?: string } {
  return typeof line.parent_tool_use_id === 'string' ? { parent_tool_use_id: line.parent_tool_use_id } : {}
}

/**
 * The events of one parsed stream-json line (none for a type this does not know). `lengthOf` gives
 * the full length of strings that were cut before parsing (a long line's skeleton).
 */
export function eventsOf(line: Json, lengthOf: LengthOf = ownLength): ClaudeEventFields[] {
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
        if (block.type === 'text' && typeof block.text === 'string') events.push({ kind: 'text', ...clipped('text', block.text, lengthOf(block.text)), ...parent(line) })
        else if (block.type === 'tool_use') {
          const input = block.input ?? null
          const cut = lengthOf !== ownLength && holdsCut(input, lengthOf) ? { input_truncated: true as const } : {}
          events.push({ kind: 'tool_use', id: str(block.id) ?? '', name: str(block.name) ?? '', input, ...cut, ...parent(line) })
        }
      }
      return events
    }
    case 'user': {
      const content = isObject(line.message) && Array.isArray(line.message.content) ? line.message.content : []
      const events: ClaudeEventFields[] = []
      for (const block of content) {
        if (!isObject(block) || block.type !== 'tool_result') continue
        events.push({ kind: 'tool_result', tool_use_id: str(block.tool_use_id) ?? '', ...contentClipped(block.content, lengthOf), is_error: block.is_error === true, ...parent(line) })
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
  #piecesLength = 0
  /** The current line once it is longer than LONG_LINE: read into its skeleton instead. */
  #long: LongLine | undefined
  sessionId: string | null = null
  /** The cwd of init: the real path Claude Code keys its session by (its project directory). */
  cwd: string | null = null
  result: ClaudeResult | undefined
  /** The name of the last tool called whose result has not come yet. */
  toolInUse: string | null = null
  readonly #pendingTools = new Map<string, string>()

  write(text: string): ClaudeEventFields[] {
    let newline = text.indexOf('\n')
    if (newline === -1) {
      this.#add(text)
      return []
    }
    const events: ClaudeEventFields[] = []
    let start = 0
    while (newline !== -1) {
      this.#endLine(text.slice(start, newline), events)
      start = newline + 1
      newline = text.indexOf('\n', start)
    }
    if (start < text.length) this.#add(text.slice(start))
    return events
  }

  /** stdout closed: a last line without its newline still counts. */
  end(): ClaudeEventFields[] {
    const events: ClaudeEventFields[] = []
    if (this.#long || this.#pieces.length > 0) this.#endLine('', events)
    return events
  }

  #add(piece: string): void {
    if (piece === '') return
    if (this.#long) {
      this.#long.write(piece)
      return
    }
    this.#pieces.push(piece)
    this.#piecesLength += piece.length
    if (this.#piecesLength > LONG_LINE) {
      this.#long = new LongLine(MAX_EVENT_TEXT, MAX_SKELETON)
      for (const held of this.#pieces) this.#long.write(held)
      this.#pieces = []
      this.#piecesLength = 0
    }
  }

  #endLine(tail: string, into: ClaudeEventFields[]): void {
    const long = this.#long
    if (long) {
      this.#long = undefined
      long.write(tail)
      const skeleton = long.end()
      if (skeleton) this.#line(skeleton.text, into, (text) => (text.length === MAX_EVENT_TEXT ? skeleton.cutLengths.get(text) : undefined) ?? text.length)
      return
    }
    let line = tail
    if (this.#pieces.length > 0) {
      this.#pieces.push(tail)
      line = this.#pieces.join('')
      this.#pieces = []
      this.#piecesLength = 0
    }
    this.#line(line, into)
  }

  #line(line: string, into: ClaudeEventFields[], lengthOf?: LengthOf): void {
    // Every stream-json line is an object; anything else is a program's plain output.
    if (line.charCodeAt(0) !== 123 /* { */) return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      return
    }
    if (!isObject(json)) return
    for (const event of eventsOf(json, lengthOf)) {
      this.#observe(event)
      into.push(event)
    }
  }

  #observe(event: ClaudeEventFields): void {
    if (event.kind === 'init') {
      if (event.session_id) this.sessionId = event.session_id
      if (event.cwd) this.cwd = event.cwd
    } else if (event.kind === 'result') {
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
