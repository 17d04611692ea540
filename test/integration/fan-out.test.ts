/**
 * The registry's fan-out, in process, with the real LocalExecutor and real child processes:
 * subscribers here are plain objects, so a test can hold one back exactly as long as it likes.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { LocalExecutor } from '../../adapters/node/local-executor.ts'
import { ExecutionRegistry, type Subscriber } from '../../src/executions/registry.ts'
import type { ExecutionEvent } from '../../src/index.ts'
import { eventually } from '../helpers/proc.ts'

function collector() {
  const events: ExecutionEvent[] = []
  const notes: string[] = []
  let gate: Promise<void> | undefined
  let release = () => {}
  let ended = false
  const subscriber: Subscriber = {
    deliver(event) {
      events.push(event)
      return gate
    },
    notify: (text) => void notes.push(text),
    end: () => void (ended = true),
  }
  return {
    subscriber,
    events,
    notes,
    get ended() {
      return ended
    },
    hold() {
      gate = new Promise((resolve) => (release = resolve))
    },
    release() {
      gate = undefined
      release()
    },
    stdout: () => events.flatMap((e) => (e.method === 'process.output' && e.params.type === 'stdout' ? [e.params.data] : [])).join(''),
  }
}

describe('fan-out to several subscribers', () => {
  test('a subscriber held back past the completion still gets every event, and the history is trimmed after', async () => {
    const registry = new ExecutionRegistry({ executor: new LocalExecutor(), bufferBytes: 1024 * 1024 })
    const total = 200_000 // under the lag limit (a quarter of bufferBytes), so the slow one does not stop the reading
    const execution = await registry.start({ command: `head -c ${total} /dev/zero | tr '\\0' z` })
    const slow = collector()
    const fast = collector()
    execution.subscribe(slow.subscriber)
    execution.subscribe(fast.subscriber)
    slow.hold()
    execution.open()
    await execution.done
    await eventually(() => fast.ended, 5000, 'the fast subscriber to finish')
    assert.equal(fast.stdout().length, total, 'the fast one was not held back by the slow one')
    assert.equal(slow.events.length, 1, 'the slow one is still on its first event')
    await new Promise((resolve) => setTimeout(resolve, 50)) // the registry retires the finished execution
    slow.release()
    await eventually(() => slow.ended, 5000, 'the slow subscriber to finish')
    assert.equal(slow.stdout().length, total)
    assert.deepEqual(slow.notes.filter((n) => n.includes('process.gap')), [])
    assert.deepEqual(slow.events.map((e) => e.params.seq), fast.events.map((e) => e.params.seq))
    // Once nobody needs them, a finished execution keeps only a little history.
    const late = collector()
    execution.subscribe(late.subscriber)
    await eventually(() => late.ended, 5000)
    assert.match(late.notes[0] ?? '', /process\.gap/, 'a replay from seq 1 is told about the trimmed events')
    assert.equal(late.events.at(-1)?.method, 'process.completed')
  })

  test('with the lossless policy a subscriber that does not read stops the reading, so the child blocks', async () => {
    const registry = new ExecutionRegistry({ executor: new LocalExecutor({ queueBytes: 64 * 1024 }), bufferBytes: 256 * 1024 })
    const execution = await registry.start({ command: 'yes 0123456789012345678901234567890123456789' })
    const stuck = collector()
    execution.subscribe(stuck.subscriber)
    stuck.hold()
    execution.open()
    await new Promise((resolve) => setTimeout(resolve, 500))
    const seqA = execution.lastSeq
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(execution.lastSeq, seqA, 'no more events are read while the subscriber is stuck')
    assert.equal(execution.handle.state, 'running')
    await execution.handle.control('CANCEL')
    stuck.release()
    await eventually(() => stuck.ended, 5000)
    assert.equal(stuck.events.at(-1)?.method, 'process.completed')
  })
})
