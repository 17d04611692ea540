/**
 * @module mcp/resources — each execution as MCP resources: `execution://<id>` (its record, JSON)
 * and `execution://<id>/transcript` (its events as NDJSON, as far as memory or the transcript on
 * disk still hold them). The newest 100 executions are listed.
 */
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { ExecutionRegistry } from '../executions/registry.ts'

/** Characters of events one transcript read returns at most. */
const TRANSCRIPT_CHARS = 4 * 1024 * 1024

export function registerResources(server: McpServer, registry: ExecutionRegistry): void {
  const listed = (suffix: string, mimeType: string) => () => ({
    resources: registry.list(100).map((r) => ({ uri: `execution://${r.id}${suffix}`, name: `${r.kind} ${r.command.slice(0, 60)}${suffix}`, mimeType })),
  })
  const idOf = (value: string | string[]) => {
    const raw = Array.isArray(value) ? value[0] : value
    try {
      return decodeURIComponent(raw)
    } catch {
      // A malformed escape is no id (ids have no %): looked up as written, it is unknown, and named.
      return raw
    }
  }

  server.registerResource(
    'execution',
    new ResourceTemplate('execution://{id}', { list: listed('', 'application/json') }),
    { description: 'An execution\'s record: state, status, exit code, reason, byte counts, a Claude task\'s summary.', mimeType: 'application/json' },
    (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(registry.lookup(idOf(id)).record(), null, 2) }] }),
  )
  server.registerResource(
    'transcript',
    new ResourceTemplate('execution://{id}/transcript', { list: listed('/transcript', 'application/x-ndjson') }),
    { description: 'An execution\'s events, one JSON object a line, in seq order (the first 4 Mi characters of output).', mimeType: 'application/x-ndjson' },
    async (uri, { id }) => {
      const { events } = await registry.lookup(idOf(id)).history(0, TRANSCRIPT_CHARS)
      return { contents: [{ uri: uri.href, mimeType: 'application/x-ndjson', text: events.map((e) => JSON.stringify(e)).join('\n') }] }
    },
  )
}
