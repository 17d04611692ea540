/** The shared protocol scenarios against the Node executor itself (the gateways run them too). */
import { after, before, describe } from 'node:test'
import { forget, killOnExit } from './helpers/gateway.ts'
import { startServer, type RunningServer } from './helpers/server.ts'
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts'
import { runScenarios } from './scenarios.ts'

describe('the Node executor, directly', () => {
  let executor: RunningServer | undefined
  let proxy: TcpProxy | undefined
  before(async () => {
    executor = await startServer()
    killOnExit(executor.child.pid!, { signal: 'SIGTERM' })
    proxy = await startTcpProxy(executor.port)
  })
  after(async () => {
    await proxy?.close()
    await executor?.stop()
    if (executor) forget(executor.child.pid!)
  })
  runScenarios(() => ({ runtime: 'node', kind: 'node', wsUrl: executor!.wsUrl, httpUrl: executor!.url, executorUrl: executor!.url, proxy: proxy! }))
})
