/**
 * @module protocol/list-filter — which executions a list asks for: those of one label, of one
 * status, or both. The filter's one definition: `list`, `GET /v1/executions` and its watch validate
 * it (schemas.ts ListParams), the registry and a pool apply it (matchesFilter), clients put it in a
 * query (listQuery), and the console, which bundles this module, shows its records by it.
 */
import type { ExecutionRecord } from './records.ts'

/** Every status a record can have: running, paused, or how it completed. */
export const RECORD_STATUSES = ['running', 'paused', 'completed', 'failed', 'canceled', 'timeout', 'killed', 'interrupted'] as const
export type RecordStatus = (typeof RECORD_STATUSES)[number]

// RECORD_STATUSES is exactly the record's statuses: a status added to the record must be added here.
const complete: [Exclude<ExecutionRecord['status'], RecordStatus>, Exclude<RecordStatus, ExecutionRecord['status']>] extends [never, never] ? true : false = true
void complete

/** A list's filter: an absent field matches every record. */
export interface ListFilter {
  label?: string
  status?: RecordStatus
}

/** Whether the filter asks for anything (without one, a list is of every execution). */
export const isFiltered = (filter: ListFilter): boolean => filter.label !== undefined || filter.status !== undefined

/** Whether an execution (its record, or anything with its label and status) matches the filter. */
export function matchesFilter(execution: { label: string | null; status: string }, filter: ListFilter): boolean {
  return (filter.label === undefined || execution.label === filter.label) && (filter.status === undefined || execution.status === filter.status)
}

/** The query string of `GET /v1/executions` and its watch for a limit and a filter: `?limit=…&label=…&status=…`, or '' for none. */
export function listQuery({ limit, label, status }: ListFilter & { limit?: number }): string {
  const query = new URLSearchParams()
  if (limit !== undefined && Number.isFinite(limit)) query.set('limit', String(limit))
  if (label !== undefined) query.set('label', label)
  if (status !== undefined) query.set('status', status)
  const text = query.toString()
  return text === '' ? '' : `?${text}`
}
