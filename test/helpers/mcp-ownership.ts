/**
 * One MCP session, two tokens, through one or several instances of a gateway: the session is its
 * opener's wherever it is used. Shared by the shipped gateways' suite (they serve /mcp themselves)
 * and the forwarding gateway's test (mcp/forward: the session lives on the executor).
 */
import assert from 'node:assert/strict'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'

const NOT_THE_OWNER = 'Forbidden: this MCP session belongs to another token'

export interface OwnershipOptions {
  /** The instance the session is opened on, then the others it is used through (the same session each time). */
  urls: readonly string[]
  /** Two valid tokens of the gateway: the session is the first's. */
  tokens: readonly [owner: string, other: string]
  /** The status of a session id altered by one character or cut short (the shipped gateways know no such session: 404; a forwarder refuses its tag: 403). */
  forged: 403 | 404
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** A request on a session, as the SDK's client sends one (the version it negotiated, 2025-06-18 or later, accepted either way). */
const onSession = (url: string, sessionId: string, token: string, method: string, body?: unknown) =>
  fetch(`${url}/mcp`, {
    method,
    headers: { ...bearer(token), 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
const toolsList = { jsonrpc: '2.0', id: 7, method: 'tools/list' }

async function assertRefused(response: Response, status: number, what: string): Promise<void> {
  const text = await response.text()
  assert.equal(response.status, status, `${what}: ${text}`)
  const body = JSON.parse(text)
  if (status === 403) assert.deepEqual(body.error, { code: -32004, message: NOT_THE_OWNER }, what)
  else assert.equal(body.error.code, -32001, what)
}

/** Returns the session id the owner's client was given. */
export async function assertSessionOwnership({ urls, tokens: [owner, other], forged }: OwnershipOptions): Promise<string> {
  const [opening] = urls
  const client = new Client({ name: 'owner', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${opening}/mcp`), { requestInit: { headers: bearer(owner) } }))
  const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!
  try {
    for (const url of urls) {
      // The other token, with the SDK's client (which skips initialize when given a session id) and raw.
      const intruder = new Client({ name: 'intruder', version: '1.0.0' })
      await intruder.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { sessionId, requestInit: { headers: bearer(other) } }))
      await assert.rejects(intruder.callTool({ name: 'execute', arguments: { command: 'echo not-mine' } }), (error: { code?: number; message: string }) => {
        assert.equal(error.code, 403, `${url}: ${error.message}`)
        assert.match(error.message, /belongs to another token/)
        return true
      })
      await intruder.close()
      await assertRefused(await onSession(url, sessionId, other, 'POST', toolsList), 403, `${url}: tools/list with the other token`)
      await assertRefused(await onSession(url, sessionId, other, 'DELETE'), 403, `${url}: DELETE with the other token`)

      // Forged: one character of the id changed, the id cut short; refused for either token.
      const last = sessionId.at(-1) === 'A' ? 'B' : 'A'
      for (const [forgery, id] of [['altered', `${sessionId.slice(0, -1)}${last}`], ['truncated', sessionId.slice(0, -4)]] as const) {
        for (const token of [owner, other]) await assertRefused(await onSession(url, id, token, 'POST', toolsList), forged, `${url}: a session id ${forgery}`)
      }

      // The owner, through this instance too.
      const listed = await onSession(url, sessionId, owner, 'POST', toolsList)
      const text = await listed.text()
      assert.equal(listed.status, 200, `${url}: the owner's tools/list: ${text}`)
      assert.match(text, /"name":"execute"/)
    }
    // The owner's session is untouched, and nothing ran for the other token.
    const result = (await client.callTool({ name: 'execute', arguments: { command: 'echo still-mine' } })) as { structuredContent: any }
    assert.equal(result.structuredContent.stdout, 'still-mine\n')
    const { executions } = ((await client.callTool({ name: 'list', arguments: {} })) as { structuredContent: any }).structuredContent
    assert.ok(!executions.some((r: { command: string }) => r.command === 'echo not-mine'), 'nothing ran for the other token')
    return sessionId
  } finally {
    await (client.transport as StreamableHTTPClientTransport).terminateSession().catch(() => {})
    await client.close()
  }
}
