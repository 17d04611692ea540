/**
 * @module mcp/server — `/mcp`: a Model Context Protocol server (Streamable HTTP) on the SDK's
 * Web-standard transport, so Claude Code or any MCP client can hand long commands and Claude tasks
 * to this executor. One SDK server and transport per MCP session (`Mcp-Session-Id`); DELETE ends a
 * session, and sessions idle for `idleMs` are closed when the next one opens (no timers: Workers
 * allow none outside a request). Auth and the Host/Origin check (security/host-check) are the
 * app's, before this route.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Hono, type Context } from 'hono'
import type { ExecutionRegistry } from '../executions/registry.ts'
import type { Logger } from '../logger.ts'
import type { AuthVariables } from '../security/auth.ts'
import { registerResources } from './resources.ts'
import { registerTools } from './tools.ts'

export interface McpOptions {
  registry: ExecutionRegistry
  version: string
  logger: Logger
  /** MCP sessions open at once; one more initialize gets 503. */
  maxSessions: number
  /** Largest request body in bytes (413 beyond). */
  maxBodyBytes: number
  /** Milliseconds after which a session nobody used is closed. */
  idleMs?: number
}

interface McpSession {
  transport: WebStandardStreamableHTTPServerTransport
  server: McpServer
  lastUsed: number
}

const jsonRpcError = (c: Context<any>, status: 400 | 404 | 503, code: number, message: string) =>
  c.json({ jsonrpc: '2.0', error: { code, message }, id: null }, status)

/**
 * The `/mcp` routes: mount with `app.route('/mcp', mcpRoutes(...))`.
 *
 * @example
 * claude mcp add --transport http cc-executor http://127.0.0.1:8003/mcp --header "Authorization: Bearer $TOKEN"
 */
export function mcpRoutes({ registry, version, logger, maxSessions, maxBodyBytes, idleMs = 3_600_000 }: McpOptions) {
  const sessions = new Map<string, McpSession>()

  const close = (id: string) => {
    const session = sessions.get(id)
    if (!session) return
    sessions.delete(id)
    void session.server.close().catch(() => {})
  }
  const sweep = () => {
    const now = Date.now()
    for (const [id, session] of sessions) if (now - session.lastUsed > idleMs) close(id)
  }

  const routes = new Hono<{ Variables: AuthVariables }>().all('/', async function mcp(c) {
    const id = c.req.header('mcp-session-id')
    if (id !== undefined) {
      const session = sessions.get(id)
      if (!session) return jsonRpcError(c, 404, -32001, 'Session not found')
      session.lastUsed = Date.now()
      return session.transport.handleRequest(c.req.raw)
    }
    if (c.req.method !== 'POST') return jsonRpcError(c, 400, -32000, 'Bad Request: Mcp-Session-Id header is required')
    sweep()
    if (sessions.size >= maxSessions) return jsonRpcError(c, 503, -32003, `Session limit exceeded: ${maxSessions} MCP sessions are open`)

    const server = new McpServer({ name: 'cc-executor', version }, { capabilities: { resources: {}, logging: {} } })
    registerTools(server, { registry, tokenId: c.get('tokenId') ?? null })
    registerResources(server, registry)
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      maxRequestBodySize: maxBodyBytes,
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, { transport, server, lastUsed: Date.now() })
        logger.info({ mcp_session_id: sessionId, mcp_sessions: sessions.size }, 'mcp session opened')
      },
      onsessionclosed: (sessionId) => {
        close(sessionId)
        logger.info({ mcp_session_id: sessionId, mcp_sessions: sessions.size }, 'mcp session closed')
      },
    })
    await server.connect(transport)
    const response = await transport.handleRequest(c.req.raw)
    // Anything but an initialize without a session is refused by the transport; nothing is kept for it.
    if (transport.sessionId === undefined) void server.close().catch(() => {})
    return response
  })
  return Object.assign(routes, {
    /** Closes every MCP session (server shutdown). */
    closeAll(): void {
      for (const id of [...sessions.keys()]) close(id)
    },
    get sessions(): number {
      return sessions.size
    },
  })
}
