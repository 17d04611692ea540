/**
 * One gateway test file's suite: a real Node executor that wants a token, a TCP proxy in front of
 * it, and the gateway (`npm run start:<runtime>`) forwarding to the proxy with that token; the
 * shared scenarios run through it. Everything is started once per file and stopped in `after`,
 * failure or not.
 */
import { randomBytes } from 'node:crypto'
import { after, before, describe } from 'node:test'
import { runScenarios } from '../scenarios.ts'
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

    runScenarios(() => {
      if (!executor || !proxy || !gateway) throw new Error(`the ${runtime} gateway did not start (see the before hook's error)`)
      const executorHeaders = { authorization: `Bearer ${token}` }
      return { runtime, kind: 'gateway', wsUrl: gateway.wsUrl, httpUrl: gateway.url, executorUrl: executor.url, executorHeaders, proxy }
    })
  })
}
