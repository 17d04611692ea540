/**
 * @module protocol/routes — the paths of the `/v1` HTTP API, written once: the server defines its
 * routes with the patterns, and the clients (ExecutorClient over HTTP, RemoteExecutor in the
 * gateways) build each request's path from the same patterns.
 */

/** Where the app mounts the routes below. */
export const V1_PREFIX = '/v1'

/** The routes as Hono patterns, relative to V1_PREFIX (`:id` is an execution id). */
export const V1_ROUTES = {
  executions: '/executions',
  claude: '/claude',
  labels: '/labels',
  watch: '/executions/watch',
  execution: '/executions/:id',
  events: '/executions/:id/events',
  verify: '/executions/:id/verify',
  transcript: '/executions/:id/transcript',
  control: '/executions/:id/control',
  input: '/executions/:id/input',
} as const

const fill = (pattern: string, id = '') => V1_PREFIX + pattern.replace(':id', encodeURIComponent(id))

/** Each route's path as a client requests it: prefixed, with the execution id encoded. */
export const v1Path = {
  executions: (): string => fill(V1_ROUTES.executions),
  claude: (): string => fill(V1_ROUTES.claude),
  labels: (): string => fill(V1_ROUTES.labels),
  execution: (id: string): string => fill(V1_ROUTES.execution, id),
  /** The event stream, replayed from after `afterSeq` (0: from the start) and then live: how a lost stream resumes. */
  events: (id: string, afterSeq: number): string => `${fill(V1_ROUTES.events, id)}?after_seq=${afterSeq}`,
  verify: (id: string): string => fill(V1_ROUTES.verify, id),
  transcript: (id: string): string => fill(V1_ROUTES.transcript, id),
  control: (id: string): string => fill(V1_ROUTES.control, id),
  input: (id: string): string => fill(V1_ROUTES.input, id),
}
