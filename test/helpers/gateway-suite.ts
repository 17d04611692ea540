/**
 * One gateway test file's suite: a real Node executor that wants a token, a TCP proxy in front of
 * it, and the gateway (`npm run start:<runtime>`) forwarding to the proxy with that token; the
 * shared scenarios run through it. Everything is started once per file and stopped in `after`,
 * failure or not.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { runScenarios } from './scenarios.ts'
import { eventually, groupMembers, processesWhere, writtenBytes } from './proc.ts'
import { requireBinary, startGateway, type GatewayRuntime, type RunningGateway } from './gateway.ts'
import { ROOT, startServer, type RunningServer } from './server.ts'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts'
import { killOnExit } from './tracker.ts'
import { claudeHome, CLAUDE_BIN, runThenReport, startMessagesApi, type MessagesApi } from './messages-api.ts'
import { TestClient } from './client.ts'
import { assertSessionOwnership } from './mcp-ownership.ts'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'

export interface SuiteOptions {
  /**
   * Node executors behind the gateway (EXECUTOR_URLS), each with its own token and TCP proxy; the
   * scenarios run as through one, the proxy they cut being every proxy at once.
   */
  executors?: number
}

export function gatewaySuite(runtime: GatewayRuntime, { executors: count = 1 }: SuiteOptions = {}): void {
  const what = count === 1 ? 'a Node executor' : `a pool of ${count} Node executors`
  describe(`through the ${runtime} gateway (npm run start:${runtime}) in front of ${what}`, () => {
    let executor: RunningServer | undefined
    let proxy: TcpProxy | undefined
    let gateway: RunningGateway | undefined
    const others: { server: RunningServer; proxy: TcpProxy; token: string; untrack: () => void }[] = []
    const token = randomBytes(24).toString('hex')
    let api: MessagesApi | undefined
    let home: ReturnType<typeof claudeHome> | undefined
    let untrackExecutor: (() => void) | undefined

    before(
      async () => {
        requireBinary(runtime)
        api = await startMessagesApi(runThenReport)
        home = claudeHome(api)
        executor = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token, ...home.env, CLAUDE_BIN })
        untrackExecutor = killOnExit(executor.child.pid!, { signal: 'SIGTERM' })
        proxy = await startTcpProxy(executor.port)
        for (let i = 1; i < count; i++) {
          const own = randomBytes(24).toString('hex')
          const server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: own, ...home.env, CLAUDE_BIN })
          others.push({ server, proxy: await startTcpProxy(server.port), token: own, untrack: killOnExit(server.child.pid!, { signal: 'SIGTERM' }) })
        }
        gateway =
          count === 1
            ? await startGateway(runtime, { executorUrl: proxy.url, token })
            : await startGateway(runtime, { executorUrls: [proxy, ...others.map((o) => o.proxy)].map((p) => p.url).join(','), token: [token, ...others.map((o) => o.token)].join(',') })
      },
      { timeout: 120_000 },
    )

    after(
      async () => {
        const errors: unknown[] = []
        const stopExecutor = async () => {
          await executor?.stop()
          untrackExecutor?.()
        }
        const stopOthers = async () => {
          for (const o of others) {
            await o.proxy.close()
            await o.server.stop()
            o.untrack()
          }
        }
        for (const step of [() => gateway?.stop(), () => proxy?.close(), stopExecutor, stopOthers, () => api?.close(), () => home?.remove()]) {
          try {
            await step()
          } catch (error) {
            errors.push(error)
          }
        }
        if (errors.length > 0) throw errors[0]
      },
      { timeout: 30_000 },
    )

    test('a Claude task through the gateway: claude.events, the summary, continue, and verify reach the executor', async () => {
      if (!gateway || !executor) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const client = await TestClient.open(gateway.wsUrl)
      try {
        const reply = await client.request('claude', { prompt: `echo via-${runtime}` })
        assert.ok(reply.result, JSON.stringify(reply.error))
        const id = reply.result.execution_id
        const completed = (await client.completion(id, 60_000)).params
        assert.equal(completed.status, 'completed')
        assert.equal(completed.claude.result, `The command printed: via-${runtime}`)
        const kinds = client.events(id).filter((e) => e.method === 'claude.event').map((e) => e.params.kind)
        assert.deepEqual(kinds, ['init', 'text', 'tool_use', 'tool_result', 'text', 'result'])
        const again = await client.request('claude', { prompt: 'echo again', continue: id })
        assert.ok(again.result, JSON.stringify(again.error))
        const second = (await client.completion(again.result.execution_id, 60_000)).params
        assert.equal(second.claude.session_id, completed.claude.session_id)
        const verified = await (await fetch(`${gateway.url}/v1/executions/${id}/verify`)).json()
        assert.equal(verified.verified, true, JSON.stringify(verified))
        assert.ok(verified.checks.some((c: { name: string }) => c.name === 'claude_transcript'))
      } finally {
        await client.close()
      }
    })

    test('MCP through the gateway: the SDK client initializes, lists tools and runs execute on the executor', async () => {
      if (!gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const client = new Client({ name: 'gateway-test', version: '1.0.0' })
      await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`)))
      try {
        assert.equal(client.getServerVersion()?.name, 'cc-executor')
        assert.equal((await client.listTools()).tools.length, 9)
        const progress: number[] = []
        const result = (await client.callTool({ name: 'execute', arguments: { command: `for i in 1 2 3; do echo mcp-${runtime} $i; sleep 0.3; done` } }, undefined, { onprogress: (p) => progress.push(p.progress) })) as { structuredContent: any }
        assert.equal(result.structuredContent.stdout, `mcp-${runtime} 1\nmcp-${runtime} 2\nmcp-${runtime} 3\n`)
        assert.equal(result.structuredContent.exit_code, 0)
        assert.ok(progress.length >= 2, 'progress notifications stream through the gateway')
        // On loopback, a page elsewhere cannot reach /mcp through a rebound DNS name.
        const rebound = await fetch(`${gateway.url}/mcp`, { method: 'POST', headers: { origin: 'http://attacker.example', 'content-type': 'application/json' }, body: '{}' })
        assert.equal(rebound.status, 403)
      } finally {
        await client.close()
      }
    })

    if (count === 1) {
      test('an MCP session through the gateway is its token\'s: another of the gateway\'s tokens on it is 403, the owner carries on, a forged id is unknown', async () => {
        if (!proxy) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
        // The executor sees one token (the gateway's); the gateway tells its own clients apart.
        const tokens = ['mcp-gateway-client-a-0123456789', 'mcp-gateway-client-b-0123456789'] as const
        const guarded = await startGateway(runtime, { executorUrl: proxy.url, token, clientToken: tokens.join(',') })
        try {
          await assertSessionOwnership({ urls: [guarded.url], tokens, forged: 404 })
        } finally {
          await guarded.stop()
        }
      })
    }

    test('the executor token is on no process\'s command line (ps shows those to every user), and the gateway still authenticates with it', async () => {
      if (!gateway || !executor) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      assert.ok(groupMembers(gateway.pgid).length > 0)
      // Every process, not only the gateway's group: a runtime may start helpers of its own elsewhere.
      const holders: string[] = []
      for (const pid of processesWhere(() => true)) {
        let argv: string
        try {
          argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        } catch {
          continue // exited meanwhile, or not ours to read
        }
        if (argv.includes(token)) holders.push(`pid ${pid}: ${argv.replaceAll('\0', ' ').replaceAll(token, '<token>')}`)
      }
      assert.deepEqual(holders, [], 'command lines holding the token')
      // The executor refuses a request without the token; through the gateway, the same request runs.
      assert.equal((await fetch(`${executor.url}/v1/executions`)).status, 401)
      const response = await fetch(`${gateway.url}/v1/executions`, { method: 'POST', body: JSON.stringify({ command: 'echo authenticated' }) })
      assert.equal(response.status, 200)
      const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line))
      assert.equal(lines.find((l) => l.method === 'process.output')?.params.data, 'authenticated\n')
      assert.equal(lines.at(-1)?.params.status, 'completed')
    })

    // A Worker's WebSocket tells nothing of what it buffers (no bufferedAmount): docs/gateways.md says so.
    if (count === 1 && runtime !== 'workerd') {
      test('a WebSocket client that stops reading holds the execution back: the child blocks, the gateway does not take the backlog', async () => {
        if (!gateway || !executor) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
        const client = await TestClient.open(gateway.wsUrl)
        try {
          // exec: the command's process is yes itself, whose write()s /proc counts.
          const { execution_id: id, pid } = await client.execute({ command: 'exec yes 0123456789012345678901234567890123456789012345678901234567890123456789' })
          // Not reading: the kernel's buffers fill, then the gateway's share, then it must stop pulling.
          ;(client.ws as unknown as { _socket: { pause(): void } })._socket.pause()
          // On a loaded machine filling them takes a while: the child must come to a stop within 4 windows of 2 s.
          await new Promise((resolve) => setTimeout(resolve, 3000))
          let first = 0
          let second = writtenBytes(pid)!
          for (let window = 0; window < 4 && (window === 0 || second - first >= 8 * 1024 * 1024); window += 1) {
            first = second
            await new Promise((resolve) => setTimeout(resolve, 2000))
            second = writtenBytes(pid)!
          }
          assert.ok(first > 0 && second >= first, `yes (pid ${pid}) is running and writing: ${first}, then ${second} bytes`)
          // Unpaced, yes prints hundreds of MB a second into the gateway's memory.
          assert.ok(second - first < 8 * 1024 * 1024, `the child went on printing while nobody read: ${first} then ${second} bytes`)
          assert.ok(second < 256 * 1024 * 1024, `${second} bytes printed into a client that reads nothing`)
          ;(client.ws as unknown as { _socket: { resume(): void } })._socket.resume()
          await client.request('control', { type: 'CANCEL', execution_id: id })
          assert.equal((await client.completion(id, 30_000)).params.status, 'canceled')
        } finally {
          await client.close()
        }
      })
    }

    if (count === 1) {
      test('an executor that goes silent mid-stream (no data and no close: a half-open connection) is given up after 3 heartbeat intervals and resumed with after_seq: no gap, no duplicate', async () => {
        // Both sides beat every second (WEBSOCKET_HEARTBEAT_INTERVAL), so the gateway gives a silent stream 3 s.
        const beat = { WEBSOCKET_HEARTBEAT_INTERVAL: '1' }
        const server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token, ...beat })
        const untrack = killOnExit(server.child.pid!, { signal: 'SIGTERM' })
        const quiet = await startTcpProxy(server.port)
        let quick: RunningGateway | undefined
        let client: TestClient | undefined
        try {
          quick = await startGateway(runtime, { executorUrl: quiet.url, token, env: beat })
          client = await TestClient.open(quick.wsUrl)
          const { execution_id: id } = await client.execute({ command: 'for i in $(seq 1 40); do echo line $i; sleep 0.2; done' })
          await eventually(() => client!.output(id).includes('line 5\n'), 15_000, 'line 5')
          assert.ok(quiet.silence() > 0, 'the live upstream stream was silenced')
          const done = await client.completion(id, 30_000)
          assert.equal(done.params.status, 'completed', done.params.reason)
          assert.equal(client.output(id), Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join(''))
          const events = client.events(id)
          assert.deepEqual(events.map((e) => e.params.seq), events.map((_, i) => i + 1), 'seq 1..n: no gap, no duplicate')
          assert.ok(quiet.requests.some((r) => r.includes(`/v1/executions/${id}/events?after_seq=`)), `resumed with after_seq: ${quiet.requests.join('; ')}`)
        } finally {
          await client?.close()
          await quick?.stop()
          await quiet.close()
          await server.stop()
          untrack()
        }
      })
    }
    // Deno and Bun have settings of their own for what the Node server sets in @hono/node-server and ws.
    if ((runtime === 'deno' || runtime === 'bun') && count === 1) {
      test('an HTTP stream quiet for longer than Bun\'s default idle timeout (10 s), but not than the heartbeat interval (20 s), reaches its completion', async () => {
        if (!gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
        const response = await fetch(`${gateway.url}/v1/executions`, { method: 'POST', body: JSON.stringify({ command: 'sleep 13; echo awake' }) })
        assert.equal(response.status, 200)
        const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line))
        assert.deepEqual(
          lines.map((l) => l.method),
          ['process.started', 'process.output', 'process.completed'],
        )
        assert.equal(lines[2].params.status, 'completed')
      })

      test('MAX_SESSIONS and MAX_STREAMS are the gateway\'s own settings: /health reports them and a session past the limit is refused', async () => {
        if (!proxy) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
        const small = await startGateway(runtime, { executorUrl: proxy.url, token, env: { MAX_SESSIONS: '1', MAX_STREAMS: '9' } })
        try {
          assert.equal(((await (await fetch(`${small.url}/health`)).json()) as { max_sessions: number }).max_sessions, 1)
          const first = await TestClient.open(small.wsUrl)
          const second = await TestClient.open(small.wsUrl).catch((error: Error) => error)
          const refused = second instanceof Error ? second.message : JSON.stringify((second as TestClient).frames)
          assert.match(refused, /Session limit exceeded|1008/)
          if (!(second instanceof Error)) await second.close()
          await first.close()
        } finally {
          await small.stop()
        }
      })

      test('a PORT that is no port (blank, not a number, too large) or is taken, or a HOST that cannot be bound, stops the gateway with one line naming it and exit status 2', async () => {
        if (!proxy) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
        const taken = createNetServer().listen(0, '127.0.0.1')
        await once(taken, 'listening')
        try {
          const takenPort = String((taken.address() as AddressInfo).port)
          const cases: [Record<string, string>, RegExp][] = [
            [{ PORT: ' ' }, /PORT/],
            [{ PORT: 'abc' }, /PORT/],
            [{ PORT: '99999' }, /PORT/],
            [{ PORT: '0x10' }, /PORT/],
            [{ PORT: takenPort }, new RegExp(`127\\.0\\.0\\.1:${takenPort}`)],
            [{ HOST: 'no-such-host.invalid', PORT: '0', CC_EXECUTOR_INSECURE: 'true' }, /HOST|no-such-host\.invalid/],
          ]
          for (const [settings, names] of cases) {
            const child = spawn('npm', ['run', '--silent', `start:${runtime}`], {
              cwd: ROOT,
              detached: true,
              env: { ...process.env, HOST: '127.0.0.1', EXECUTOR_URL: proxy.url, ...settings },
              stdio: ['ignore', 'pipe', 'pipe'],
            })
            const untrack = killOnExit(child.pid!, { group: true })
            let output = ''
            child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
            child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
            try {
              const [code] = (await Promise.race([once(child, 'exit'), new Promise((_, reject) => setTimeout(() => reject(new Error(`still running after 20 s: ${output}`)), 20_000))])) as [number | null]
              const what = `${JSON.stringify(settings)}: ${JSON.stringify(output)}`
              assert.equal(code, 2, what)
              assert.equal(output.trim().split('\n').length, 1, `one line: ${what}`)
              assert.match(output, new RegExp(`^cc-executor gateway \\(${runtime}\\): `), what)
              assert.match(output, names, what)
            } finally {
              try {
                process.kill(-child.pid!, 'SIGKILL')
              } catch {
                // Already gone.
              }
              untrack()
            }
          }
        } finally {
          taken.close()
        }
      })
      test('with PORT=0 the gateway listens on a free port and says which', async () => {
        if (!proxy) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
        const child = spawn('npm', ['run', '--silent', `start:${runtime}`], {
          cwd: ROOT,
          detached: true,
          env: { ...process.env, PORT: '0', HOST: '127.0.0.1', EXECUTOR_URL: proxy.url, EXECUTOR_TOKEN: token },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        const untrack = killOnExit(child.pid!, { group: true })
        try {
          let output = ''
          const port = await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no "listening on" line within 30 s: ${output}`)), 30_000)
            const read = (chunk: Buffer) => {
              output += chunk.toString()
              const found = /listening on http:\/\/127\.0\.0\.1:(\d+)\//i.exec(output)
              if (found) {
                clearTimeout(timer)
                resolve(Number(found[1]))
              }
            }
            child.stdout!.on('data', read)
            child.stderr!.on('data', read)
          })
          assert.ok(port > 0)
          const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { runtime?: string }
          assert.equal(health.runtime, runtime)
        } finally {
          try {
            process.kill(-child.pid!, 'SIGKILL')
          } catch {
            // Already gone.
          }
          untrack()
        }
      })
    }

    runScenarios(() => {
      if (!executor || !proxy || !gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const executorHeaders = { authorization: `Bearer ${token}` }
      const proxies = [proxy, ...others.map((o) => o.proxy)]
      // Cutting "the" upstream cuts every executor's: whichever runs the execution, its stream breaks.
      const every: TcpProxy = {
        port: proxy.port,
        url: proxy.url,
        get accepted() {
          return proxies.reduce((n, p) => n + p.accepted, 0)
        },
        get requests() {
          return proxies.flatMap((p) => p.requests)
        },
        breakAll: () => proxies.reduce((n, p) => n + p.breakAll(), 0),
        silence: () => proxies.reduce((n, p) => n + p.silence(), 0),
        get refusing() {
          return proxies.every((p) => p.refusing)
        },
        set refusing(value: boolean) {
          for (const p of proxies) p.refusing = value
        },
        close: async () => {},
      }
      const moreExecutors = others.map((o) => ({ url: o.server.url, headers: { authorization: `Bearer ${o.token}` } }))
      return { runtime, kind: 'gateway', wsUrl: gateway.wsUrl, httpUrl: gateway.url, executorUrl: executor.url, executorHeaders, proxy: count === 1 ? proxy : every, moreExecutors }
    })
  })
}
