/**
 * RemoteExecutor.keep: a CANCEL or KILL that did not reach the upstream is sent again, within
 * bounds (retries, time, how many are kept), and nothing of it outlives the executor's close.
 * The upstream here is a fetch function: down (it rejects), or answering.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RemoteExecutor } from '../../src/executor/remote-executor.ts'
import { eventually, sleep } from '../helpers/proc.ts'

/** A fetch for an upstream that is down until `up` is set, then answers with `answer`. */
function upstream(answer: (path: string, body: unknown) => Response = () => Response.json({ status: 'canceled' })) {
  const calls: { path: string; body: any }[] = []
  const state = { up: false }
  const fetchFn = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const path = new URL(String(input)).pathname
    const body = init.body === undefined ? undefined : JSON.parse(String(init.body))
    calls.push({ path, body })
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError')
    if (!state.up) throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') })
    return answer(path, body)
  }) as typeof fetch
  return { calls, state, fetchFn }
}

const WHY = 'The executor http://upstream is unavailable: The executor is unreachable'

describe('controls kept for an upstream that did not get them (RemoteExecutor.keep)', () => {
  test('only CANCEL and KILL are kept; the pending result says what, until when, and why', async () => {
    const { fetchFn } = upstream()
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn })
    const before = Date.now() / 1000
    const pending = remote.keep('a', 'CANCEL', undefined, WHY)
    assert.equal(pending?.status, 'pending')
    assert.equal(pending?.type, 'CANCEL')
    assert.ok(pending!.retry_until >= before + 119 && pending!.retry_until <= Date.now() / 1000 + 120, String(pending?.retry_until))
    assert.match(pending!.message, /^The executor http:\/\/upstream is unavailable: .*; the gateway keeps the CANCEL and sends it again/)
    for (const type of ['PAUSE', 'RESUME', 'INTERRUPT']) assert.equal(remote.keep('b', type, undefined, WHY), undefined, type)
    assert.equal(remote.pendingControls, 1)
    await remote.close()
    assert.equal(remote.pendingControls, 0)
  })

  test('one per execution: a KILL replaces a kept CANCEL (and its reason), a CANCEL does not replace a kept KILL; delivered once when the upstream answers', async () => {
    const { calls, state, fetchFn } = upstream((_path, body) => Response.json({ status: (body as { type: string }).type === 'KILL' ? 'killed' : 'canceled' }))
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn, controlRetry: { delayMs: 20, maxDelayMs: 20 } })
    remote.keep('x', 'CANCEL', 'first', WHY)
    assert.equal(remote.keep('x', 'KILL', 'harder', WHY)?.type, 'KILL')
    assert.equal(remote.keep('x', 'CANCEL', 'softer', WHY)?.type, 'KILL')
    assert.equal(remote.pendingControls, 1)
    await eventually(() => calls.length >= 2, 2000, 'two retries')
    state.up = true
    await eventually(() => remote.pendingControls === 0, 2000, 'delivered')
    const delivered = calls.at(-1)!
    assert.deepEqual(delivered, { path: '/v1/executions/x/control', body: { type: 'KILL', reason: 'harder' } })
    const count = calls.length
    await sleep(100)
    assert.equal(calls.length, count, 'nothing sent after the upstream had it')
    await remote.close()
  })

  test('given up after its retries, or its time, whichever comes first', async () => {
    const { calls, fetchFn } = upstream()
    const dropped: unknown[] = []
    const byCount = new RemoteExecutor({ url: 'http://upstream/', fetch: fetchFn, controlRetry: { delayMs: 5, maxDelayMs: 5, attempts: 4 }, onControlDropped: (d) => dropped.push(d) })
    byCount.keep('c', 'CANCEL', undefined, WHY)
    await eventually(() => byCount.pendingControls === 0, 2000, 'given up')
    assert.equal(calls.length, 4)
    assert.deepEqual(dropped, [{ execution_id: 'c', type: 'CANCEL', executor: 'http://upstream', retries: 4, error: 'The executor is unreachable', why: 'retries exhausted' }])
    await sleep(50)
    assert.equal(calls.length, 4, 'no retry after giving up')

    const timed = upstream()
    const byTime = new RemoteExecutor({ url: 'http://upstream', fetch: timed.fetchFn, controlRetry: { delayMs: 40, maxDelayMs: 40, attempts: 1000, withinMs: 300 } })
    const started = Date.now()
    byTime.keep('t', 'KILL', undefined, WHY)
    await eventually(() => byTime.pendingControls === 0, 2000, 'given up')
    const took = Date.now() - started
    assert.ok(took >= 280 && took < 1000, `given up after ${took} ms`)
    assert.ok(timed.calls.length >= 3 && timed.calls.length <= 8, `${timed.calls.length} retries in 300 ms, one every 40 ms`)
  })

  test('an upstream that answers it cannot (the execution has ended: -32002) settles it after one attempt', async () => {
    const { calls, state, fetchFn } = upstream(() => Response.json({ error: { code: -32002, message: 'Execution e has already ended' } }, { status: 404 }))
    state.up = true
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn, controlRetry: { delayMs: 5 } })
    remote.keep('e', 'CANCEL', undefined, WHY)
    await eventually(() => remote.pendingControls === 0, 2000, 'settled')
    assert.equal(calls.length, 1)
  })

  test('the upstream\'s other errors (a token it refuses, its own fault) are retried, and the last one is in the report', async () => {
    let refusals = 2
    const { calls, state, fetchFn } = upstream(() =>
      refusals-- > 0 ? Response.json({ error: { code: -32004, message: 'Unauthorized: invalid token' } }, { status: 401 }) : Response.json({ status: 'canceled' }),
    )
    state.up = true
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn, controlRetry: { delayMs: 5, maxDelayMs: 5 } })
    remote.keep('r', 'CANCEL', undefined, WHY)
    await eventually(() => remote.pendingControls === 0, 2000, 'delivered')
    assert.equal(calls.length, 3, 'two refusals, then delivered')

    const dropped: { error?: string; retries: number }[] = []
    const always = upstream(() => Response.json({ error: { code: -32603, message: 'Internal error: the disk is full' } }, { status: 500 }))
    always.state.up = true
    const failing = new RemoteExecutor({ url: 'http://upstream', fetch: always.fetchFn, controlRetry: { delayMs: 5, maxDelayMs: 5, attempts: 3 }, onControlDropped: (d) => dropped.push(d) })
    failing.keep('f', 'KILL', undefined, WHY)
    await eventually(() => failing.pendingControls === 0, 2000, 'given up')
    assert.deepEqual(dropped.map((d) => [d.retries, d.error]), [[3, 'Internal error: the disk is full']])
  })

  test('closed while a request with it is on its way: reported as such (the upstream may have it), that attempt not counted as failed', async () => {
    let answer: (() => void) | undefined
    const calls: string[] = []
    const fetchFn = (async (_input: RequestInfo | URL, init: RequestInit = {}) => {
      calls.push(String(init.body))
      if (calls.length === 1) throw new TypeError('fetch failed')
      // The second attempt reaches it, and its answer takes a while.
      return new Promise<Response>((resolve, reject) => {
        answer = () => resolve(Response.json({ status: 'killed' }))
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    }) as typeof fetch
    const dropped: { why: string; retries: number }[] = []
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn, controlRetry: { delayMs: 5, maxDelayMs: 5 }, onControlDropped: (d) => dropped.push(d) })
    remote.keep('s', 'KILL', undefined, WHY)
    await eventually(() => answer !== undefined, 2000, 'the second attempt on its way')
    await remote.close()
    assert.deepEqual(dropped.map((d) => [d.why, d.retries]), [['closed while sending', 1]])
  })

  test('an answer that is not the upstream\'s (a proxy\'s 502 page) is retried like a fault of the network', async () => {
    let bad = 2
    const { calls, state, fetchFn } = upstream(() => (bad-- > 0 ? new Response('<html>bad gateway</html>', { status: 502 }) : Response.json({ status: 'canceled' })))
    state.up = true
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn, controlRetry: { delayMs: 5, maxDelayMs: 5 } })
    remote.keep('p', 'CANCEL', undefined, WHY)
    await eventually(() => remote.pendingControls === 0, 2000, 'delivered')
    assert.equal(calls.length, 3)
  })

  test('at most `max` kept; resend sends each at once; close drops them all, aborts what is on its way, and keeps no more', async () => {
    const { calls, fetchFn } = upstream()
    const dropped: { execution_id: string; why: string }[] = []
    // A report that throws stops neither the close nor the report of the others.
    const onControlDropped = (d: { execution_id: string; why: string }) => {
      dropped.push(d)
      throw new Error('the log is gone')
    }
    const remote = new RemoteExecutor({ url: 'http://upstream', fetch: fetchFn, controlRetry: { delayMs: 60_000, maxDelayMs: 60_000, max: 3 }, onControlDropped })
    for (const id of ['1', '2', '3']) assert.equal(remote.keep(id, 'CANCEL', undefined, WHY)?.status, 'pending')
    assert.equal(remote.keep('4', 'CANCEL', undefined, WHY), undefined, 'a fourth is not kept')
    // The same execution again is not one more.
    assert.equal(remote.keep('2', 'KILL', undefined, WHY)?.type, 'KILL')
    assert.equal(remote.pendingControls, 3)
    remote.resend()
    await eventually(() => calls.length === 3, 2000, 'each sent at once')
    assert.deepEqual(calls.map((c) => c.path).sort(), ['/v1/executions/1/control', '/v1/executions/2/control', '/v1/executions/3/control'])
    remote.settled('1')
    assert.equal(remote.pendingControls, 2)
    await remote.close()
    assert.equal(remote.pendingControls, 0)
    // Settled is not dropped: only those still kept at the close are reported (their retry may still be on its way).
    assert.deepEqual(dropped.map((d) => `${d.execution_id} ${d.why.replace(' while sending', '')}`).sort(), ['2 closed', '3 closed'])
    assert.equal(remote.keep('5', 'CANCEL', undefined, WHY), undefined, 'a closed executor keeps nothing')
    remote.resend()
    await sleep(50)
    assert.equal(calls.length, 3, 'nothing sent after close')
    // Were a 60 s timer left, this file would not end before it fired.
  })
})
