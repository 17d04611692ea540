import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ExecutionRecorder } from '../../src/executor/recorder.ts'
import type { ExecutionEvent } from '../../src/protocol/schemas.ts'

const bytes = (text: string) => new TextEncoder().encode(text)
const recorder = (options: Partial<ConstructorParameters<typeof ExecutionRecorder>[0]> = {}) =>
  new ExecutionRecorder({ executionId: 'e-1', command: 'x', ...options })

describe('ExecutionRecorder (unit)', () => {
  test('listen: each event reaches the sink inside the call that produced it, numbered in order', () => {
    const r = recorder()
    const seen: string[] = []
    r.listen({ push: (events) => (seen.push(...events.map((e) => `${e.params.seq} ${e.method}`)), true) })
    r.started(1, 1)
    assert.deepEqual(seen, ['1 process.started'], 'queued before listen, pushed by it')
    r.output('stdout', bytes('a\n'))
    assert.deepEqual(seen.at(-1), '2 process.output', 'pushed before output() returned')
    r.marker('process.paused')
    assert.deepEqual(seen.at(-1), '3 process.paused')
  })

  test('listen: a sink without room gets nothing more until more(); what waits keeps its order and gets its seq then', () => {
    const r = recorder({ policy: 'drop', queueBytes: 1_000_000 })
    const seen: ExecutionEvent[] = []
    let room = false
    const flow = r.listen({ push: (events) => (seen.push(...events), room) })
    r.started(1, 1)
    r.output('stdout', bytes('one\n'))
    r.output('stdout', bytes('two\n'))
    assert.equal(seen.length, 1, 'only the first batch')
    room = true
    flow.more()
    assert.deepEqual(
      seen.map((e) => [e.params.seq, e.method === 'process.output' ? e.params.data : e.method]),
      [
        [1, 'process.started'],
        [2, 'one\n'],
        [3, 'two\n'],
      ],
    )
  })

  test('listen: events the sink causes while it takes a batch, even with room made at once, follow that batch', () => {
    const r = recorder()
    const seen: number[] = []
    let room = false
    const flow = r.listen({
      push: (events) => {
        for (const event of events) {
          seen.push(event.params.seq)
          // A subscriber that pauses the process on its first output, and has room again at once.
          if (event.method === 'process.output' && event.params.seq === 2) {
            r.marker('process.paused')
            flow.more()
          }
        }
        return room
      },
    })
    r.started(1, 1)
    r.output('stdout', bytes('a\n'))
    r.output('stdout', bytes('b\n'))
    room = true
    flow.more()
    assert.deepEqual(seen, [1, 2, 3, 4], 'the marker (4) after the batch it was caused in (2, 3)')
  })

  test('block policy: output() reports a full queue while the sink has no room, and onDemand fires once there is', () => {
    let demanded = 0
    const r = recorder({ queueBytes: 4, onDemand: () => (demanded += 1) })
    let room = false
    const flow = r.listen({ push: () => room })
    r.started(1, 1)
    assert.equal(r.output('stdout', bytes('12345\n')), false, 'six characters wait: over queueBytes')
    const before = demanded
    room = true
    flow.more()
    assert.ok(demanded > before, 'onDemand after the queue emptied')
    assert.equal(r.hasRoom, true)
  })

  test('events is a stream over the same queue; a recorder is read one way only', async () => {
    const r = recorder()
    r.started(1, 1)
    r.output('stdout', bytes('a\n'))
    void r.complete({ status: 'completed', exit_code: 0, signal: null, reason: 'exited', pid: 1, pgid: 1 })
    const methods: string[] = []
    for await (const event of r.events) methods.push(event.method)
    assert.deepEqual(methods, ['process.started', 'process.output', 'process.completed'])
    assert.throws(() => r.listen({ push: () => true }), /taken once/)
    assert.throws(() => recorderWithListen().events, /taken once/)
  })
})

function recorderWithListen(): ExecutionRecorder {
  const r = recorder()
  r.listen({ push: () => true })
  return r
}
