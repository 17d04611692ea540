/**
 * @module verify — checks that the output a client received is exactly what the process printed:
 * SHA-256 over the concatenated `data` of the process.output events, per stream, compared with the
 * completion's `transcript_sha256`. Nothing invented, lost or reordered passes.
 */
import type { CompletedParams, ExecutionEvent } from './protocol/schemas.ts'

export type StreamHashes = { stdout: string; stderr: string }

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('')

/** The transcript hashes of these events' output, computed the way the server does. */
export async function outputHashes(events: Iterable<ExecutionEvent>): Promise<StreamHashes> {
  const parts: Record<'stdout' | 'stderr', string[]> = { stdout: [], stderr: [] }
  for (const event of events) if (event.method === 'process.output') parts[event.params.type].push(event.params.data)
  const digest = async (texts: string[]) => hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(texts.join(''))))
  return { stdout: await digest(parts.stdout), stderr: await digest(parts.stderr) }
}

export interface Verification {
  ok: boolean
  expected: CompletedParams['transcript_sha256']
  actual: StreamHashes
  reason?: string
}

/**
 * Verifies a received execution: every seq from 1 to the completion present once, in order, and the
 * output's hashes equal to the completion's transcript_sha256.
 *
 * @example
 * const { ok } = await verifyTranscript(eventsReceived)
 */
export async function verifyTranscript(events: readonly ExecutionEvent[]): Promise<Verification> {
  const actual = await outputHashes(events)
  const completion = events.find((e) => e.method === 'process.completed')
  const expected = completion?.method === 'process.completed' ? completion.params.transcript_sha256 : null
  const fail = (reason: string): Verification => ({ ok: false, expected, actual, reason })
  if (!completion) return fail('no process.completed')
  const gap = events.findIndex((e, i) => e.params.seq !== i + 1)
  if (gap !== -1) return fail(`seq ${events[gap].params.seq} at position ${gap + 1}`)
  if (events.at(-1) !== completion) return fail('process.completed is not the last event')
  if (!expected) return fail('the completion carries no transcript_sha256')
  if (expected.stdout !== actual.stdout) return fail('stdout differs from what the process printed')
  if (expected.stderr !== actual.stderr) return fail('stderr differs from what the process printed')
  return { ok: true, expected, actual }
}
