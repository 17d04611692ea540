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
import { groupMembers } from './proc.ts'
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

    test('the executor token is on no command line of the gateway\'s processes (ps shows those to every user)', () => {
      if (!gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const members = groupMembers(gateway.pgid)
      assert.ok(members.length > 0)
      for (const pid of members) {
        let argv: string
        try {
          argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        } catch {
          continue // exited meanwhile
        }
        assert.ok(!argv.includes(token), `pid ${pid}'s command line holds the token: ${argv.replaceAll('\0', ' ').replace(token, '<token>')}`)
      }
    })

    runScenarios(() => {
      if (!executor || !proxy || !gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const executorHeaders = { authorization: `Bearer ${token}` }
      return { runtime, kind: 'gateway', wsUrl: gateway.wsUrl, httpUrl: gateway.url, executorUrl: executor.url, executorHeaders, proxy }
    })
  })
}
