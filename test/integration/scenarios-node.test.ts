/** The shared protocol scenarios against the Node executor itself (the gateways run them too). */
import { after, before, describe } from 'node:test'
import { startServer, type RunningServer } from '../helpers/server.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { killOnExit } from '../helpers/tracker.ts'
import { runScenarios } from '../helpers/scenarios.ts'

describe('the Node executor, directly', () => {
  let executor: RunningServer | undefined
  let proxy: TcpProxy | undefined
  let untrack: (() => void) | undefined
  before(async () => {
    executor = await startServer()
    untrack = killOnExit(executor.child.pid!, { signal: 'SIGTERM' })
    proxy = await startTcpProxy(executor.port)
  })
  after(async () => {
    await proxy?.close()
    await executor?.stop()
    untrack?.()
  })
  runScenarios(() => ({ runtime: 'node', kind: 'node', wsUrl: executor!.wsUrl, httpUrl: executor!.url, executorUrl: executor!.url, proxy: proxy! }))
})
