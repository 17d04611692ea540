/**
 * One gateway test file's suite: a real Node executor that wants a token, a TCP proxy in front of
 * it, and the gateway (`npm run start:<runtime>`) forwarding to the proxy with that token; the
 * shared scenarios run through it. Everything is started once per file and stopped in `after`,
 * failure or not.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { runScenarios } from '../scenarios.ts'
import { groupMembers, processesWhere } from './proc.ts'
import { forget, killOnExit, requireBinary, startGateway, type GatewayRuntime, type RunningGateway } from './gateway.ts'
import { startServer, type RunningServer } from './server.ts'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts'

export function gatewaySuite(runtime: GatewayRuntime): void {
  describe(`through the ${runtime} gateway (npm run start:${runtime}) in front of a Node executor`, () => {
    let executor: RunningServer | undefined
    let proxy: TcpProxy | undefined
    let gateway: RunningGateway | undefined
    const token = randomBytes(24).toString('hex')

    before(
      async () => {
        requireBinary(runtime)
        executor = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token })
        killOnExit(executor.child.pid!, { signal: 'SIGTERM' })
        proxy = await startTcpProxy(executor.port)
        gateway = await startGateway(runtime, { executorUrl: proxy.url, token })
      },
      { timeout: 120_000 },
    )

    after(
      async () => {
        const errors: unknown[] = []
        const stopExecutor = async () => {
          await executor?.stop()
          if (executor) forget(executor.child.pid!)
        }
        for (const step of [() => gateway?.stop(), () => proxy?.close(), stopExecutor]) {
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

    runScenarios(() => {
      if (!executor || !proxy || !gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const executorHeaders = { authorization: `Bearer ${token}` }
      return { runtime, kind: 'gateway', wsUrl: gateway.wsUrl, httpUrl: gateway.url, executorUrl: executor.url, executorHeaders, proxy }
    })
  })
}
