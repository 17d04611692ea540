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
import { RETRY_AFTER, type ExecutionRegistry } from '../executions/registry.ts'
import type { Logger } from '../logger.ts'
import { ErrorCode } from '../protocol/errors.ts'
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
  /** Milliseconds after which a session with no request and no tool call running is closed. */
  idleMs?: number
}

interface McpSession {
  transport: WebStandardStreamableHTTPServerTransport
  server: McpServer
  /** When a request last arrived or a tool call last ended. */
  lastUsed: number
  /** Tool calls running: while any is, the session is in use, not idle. */
  calls: number
  /** The token that opened the session (null without auth): only it may use the session. */
  tokenId: string | null
}

const jsonRpcError = (c: Context<any>, status: 400 | 403 | 404 | 503, code: number, message: string) =>
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
    for (const [id, session] of sessions) if (session.calls === 0 && now - session.lastUsed > idleMs) close(id)
  }

  const routes = new Hono<{ Variables: AuthVariables }>().all('/', async function mcp(c) {
    const id = c.req.header('mcp-session-id')
    if (id !== undefined) {
      const session = sessions.get(id)
      if (!session) return jsonRpcError(c, 404, -32001, 'Session not found')
      // Tools run, are audited and rate-limited as the session's token: a session id is no credential for another.
      if ((c.get('tokenId') ?? null) !== session.tokenId) return jsonRpcError(c, 403, ErrorCode.UNAUTHORIZED, 'Forbidden: this MCP session belongs to another token')
      session.lastUsed = Date.now()
      return session.transport.handleRequest(c.req.raw)
    }
    if (c.req.method !== 'POST') return jsonRpcError(c, 400, -32000, 'Bad Request: Mcp-Session-Id header is required')
    sweep()
    if (sessions.size >= maxSessions) {
      // Full, as every -32003 over HTTP: the client may come back shortly.
      c.header('retry-after', String(RETRY_AFTER))
      return jsonRpcError(c, 503, ErrorCode.SESSION_LIMIT, `Session limit exceeded: ${maxSessions} MCP sessions are open`)
    }

    const server = new McpServer({ name: 'cc-executor', version }, { capabilities: { resources: {}, logging: {} } })
    const calls = {
      started: () => void (session.calls += 1),
      ended: () => {
        session.calls -= 1
        session.lastUsed = Date.now()
      },
    }
    const tokenId = c.get('tokenId') ?? null
    registerTools(server, { registry, tokenId, calls })
    registerResources(server, registry)
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      maxRequestBodySize: maxBodyBytes,
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, session)
        logger.info({ mcp_session_id: sessionId, mcp_sessions: sessions.size }, 'mcp session opened')
      },
      onsessionclosed: (sessionId) => {
        close(sessionId)
        logger.info({ mcp_session_id: sessionId, mcp_sessions: sessions.size }, 'mcp session closed')
      },
    })
    const session: McpSession = { transport, server, lastUsed: Date.now(), calls: 0, tokenId }
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
