/**
 * The /v1 event stream's body, read in-process (app.request): real processes through the real core,
 * with the reader's pace under the test's control.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LocalExecutor } from '../../adapters/node/embed.ts'
import { upgradeWebSocket } from '@hono/node-server'
import type { Execution, Subscriber } from '../../src/executions/registry.ts'
import { eventStream } from '../../src/http/event-stream.ts'
import { Frame } from '../../src/protocol/frame.ts'
import type { ExecutionEvent } from '../../src/protocol/schemas.ts'
import { createExecutorApp } from '../../src/index.ts'
import { eventually } from '../helpers/proc.ts'

const request = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

test('events that arrive while the reader is busy are joined into one chunk: nothing lost, in order', async () => {
  const exec = createExecutorApp({ executor: new LocalExecutor(), upgradeWebSocket, runtime: 'node' })
  try {
    // Separate writes over ~1 s: many process.output events.
    const res = await exec.request('/v1/executions', request({ command: 'for i in $(seq 1 100); do echo "line $i"; sleep 0.005; done' }))
    assert.equal(res.status, 200)
    const id = res.headers.get('x-execution-id')!
    // Nobody reads until the command has ended.
    await eventually(() => exec.registry.get(id)?.ended === true, 20_000, 'the command to end')
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let chunks = 0
    let text = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks += 1
      text += decoder.decode(value, { stream: true })
    }
    const events = text.trimEnd().split('\n').map((line) => JSON.parse(line))
    const outputs = events.filter((e) => e.method === 'process.output')
    assert.ok(outputs.length >= 20, `${outputs.length} output events`)
    assert.ok(chunks <= 3, `${events.length} events came in ${chunks} chunks`)
    assert.deepEqual(events.map((e) => e.params.seq), events.map((_, i) => i + 1))
    assert.equal(outputs.map((e) => e.params.data).join(''), Array.from({ length: 100 }, (_, i) => `line ${i + 1}\n`).join(''))
    assert.equal(events.at(-1).method, 'process.completed')
  } finally {
    await exec.shutdown()
  }
})

test('a reader that keeps up gets each event as its own chunk, at once', async () => {
  const exec = createExecutorApp({ executor: new LocalExecutor(), upgradeWebSocket, runtime: 'node' })
  try {
    const res = await exec.request('/v1/executions', request({ command: 'echo one; sleep 0.3; echo two' }))
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    const seen: string[] = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      seen.push(decoder.decode(value))
    }
    const one = seen.findIndex((chunk) => chunk.includes('"data":"one\\n"'))
    const two = seen.findIndex((chunk) => chunk.includes('"data":"two\\n"'))
    assert.ok(one >= 0 && two > one, 'the first line came in a chunk of its own, before the second was printed')
  } finally {
    await exec.shutdown()
  }
})

test('after a bulk chunk, events of the next timer tick are gathered into one chunk; after a small one, nothing waits', async () => {
  // The stream's subscriber driven by hand (an in-process stand-in for an Execution's subscribe()),
  // so that which events arrive within one tick is up to the test.
  let subscriber!: Subscriber
  const execution = { subscribe: (s: Subscriber) => (subscriber = s), unsubscribe: () => {} } as unknown as Execution
  const reader = eventStream(execution, { format: 'ndjson', afterSeq: 0, heartbeatMs: 60_000 }).getReader()
  const decoder = new TextDecoder()
  const output = (seq: number, data: string) => {
    const event = { jsonrpc: '2.0', method: 'process.output', params: { execution_id: 'e', seq, type: 'stdout', data } } as ExecutionEvent
    subscriber.deliver(event, Frame.ofText(JSON.stringify(event)))
  }
  const chunk = async () => decoder.decode((await reader.read()).value).trimEnd().split('\n').map((l) => JSON.parse(l).params.seq)

  try {
    let next = chunk()
    output(1, 'x'.repeat(20_000))
    assert.deepEqual(await next, [1])
    next = chunk()
    output(2, 'a\n') // the reader is waiting: without gathering, this would be a chunk of its own
    await Promise.resolve()
    output(3, 'b\n')
    assert.deepEqual(await next, [2, 3], 'the two events after the bulk chunk came as one')

    next = chunk()
    output(4, 'c\n')
    let settled = false
    void next.then(() => (settled = true))
    await new Promise<void>((resolve) => queueMicrotask(resolve))
    await Promise.resolve()
    assert.equal(settled, true, 'after a small chunk the next event goes out without waiting for a timer')
    assert.deepEqual(await next, [4])
  } finally {
    await reader.cancel()
  }
})
