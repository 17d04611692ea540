/**
 * The /v1 event stream's body, read in-process (app.request): real processes through the real core,
 * with the reader's pace under the test's control.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LocalExecutor } from '../adapters/node/index.ts'
import { upgradeWebSocket } from '@hono/node-server'
import { createExecutorApp } from '../src/index.ts'
import { eventually } from './helpers/proc.ts'

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
