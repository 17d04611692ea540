/**
 * Execution's flow control between an event source and its subscribers, in process: a handle whose
 * events are a stream (as a gateway's RemoteExecutor gives) and one that pushes them (the recorder
 * behind every LocalExecutor), each with a subscriber that is congested for a while and then keeps
 * up. Reading must stop while it lags by more than maxLag, and must go on once it has caught up.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ExecutionHandle } from '../../src/executor/executor.ts'
import { ExecutionRecorder } from '../../src/executor/recorder.ts'
import { Execution, type Subscriber } from '../../src/executions/execution.ts'
import type { CompletedEvent, ExecutionEvent } from '../../src/protocol/schemas.ts'

const LINES = 200
const LINE = `${'x'.repeat(1023)}\n`

/** The events of a command that printed LINES lines, as a recorder numbers them. */
function recordedEvents(): ExecutionEvent[] {
  const recorder = new ExecutionRecorder({ executionId: 'e-1', command: 'x', maxChunk: 1024 })
  const events: ExecutionEvent[] = []
  recorder.listen({ push: (batch) => (events.push(...batch), true) })
  recorder.started(1, 1)
  for (let i = 0; i < LINES; i++) recorder.output('stdout', new TextEncoder().encode(LINE))
  void recorder.complete({ status: 'completed', exit_code: 0, signal: null, reason: 'exited', pid: 1, pgid: 1 })
  return events
}

function handleOf(events: ReadableStream<ExecutionEvent>, extra: Partial<ExecutionHandle> = {}): ExecutionHandle {
  return {
    id: 'e-1',
    pid: 1,
    pgid: 1,
    command: 'x',
    state: 'running',
    events,
    control: async () => ({ status: 'ok' }),
    write: async () => ({ written: 0 }),
    completed: new Promise<CompletedEvent>(() => {}),
    ...extra,
  }
}

/** A subscriber that makes its sender wait 2 ms for each of its first `congestedFor` events. */
function slowThenFast(congestedFor: number): Subscriber & { seqs: number[]; ended: Promise<void> } {
  const seqs: number[] = []
  let end!: () => void
  const ended = new Promise<void>((resolve) => (end = resolve))
  return {
    seqs,
    ended,
    deliver(event) {
      seqs.push(event.params.seq)
      if (seqs.length <= congestedFor) return new Promise<void>((resolve) => setTimeout(resolve, 2))
    },
    notify() {},
    end,
  }
}

const options = { detachGraceMs: Infinity, activityMs: Infinity, maxLag: 8 * 1024, retain: 0, startedBy: 'test' }

async function deliveredAll(execution: Execution, subscriber: ReturnType<typeof slowThenFast>, total: number): Promise<void> {
  execution.subscribe(subscriber)
  execution.open()
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`stalled after ${subscriber.seqs.length} of ${total} events`)), 5000))
  await Promise.race([subscriber.ended, timeout])
  assert.deepEqual(
    subscriber.seqs,
    Array.from({ length: total }, (_, i) => i + 1),
  )
}

describe('Execution flow control (unit)', () => {
  test('activityMs Infinity (no process.status): no timer is armed, where setTimeout would take Infinity as 1 ms and fire for ever', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on('warning', onWarning)
    try {
      const execution = new Execution(handleOf(new ReadableStream()), options)
      execution.open()
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.deepEqual(warnings, [])
    } finally {
      process.off('warning', onWarning)
    }
  })

  test('a stream source: reading stops while the subscriber lags, and goes on once it caught up', async () => {
    const events = recordedEvents()
    let pulled = 0
    let maxAhead = 0
    const subscriber = slowThenFast(20)
    const stream = new ReadableStream<ExecutionEvent>(
      {
        // 20 events a macrotask after each read, as lines come off a socket a chunk at a time (what
        // the stream holds is read as one batch, so a batch can take the lag past maxLag by far).
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 0))
          maxAhead = Math.max(maxAhead, pulled - subscriber.seqs.length)
          for (let i = 0; i < 20 && pulled < events.length; i++) controller.enqueue(events[pulled++])
          if (pulled === events.length) controller.close()
        },
      },
      { highWaterMark: 0 },
    )
    await deliveredAll(new Execution(handleOf(stream), options), subscriber, events.length)
    assert.ok(maxAhead <= 30, `read at most maxLag (8 KiB: 8 lines) and a batch (20) ahead of the subscriber, not ${maxAhead} events`)
  })

  test('a pushing source (the recorder): the same', async () => {
    const recorder = new ExecutionRecorder({ executionId: 'e-1', command: 'x', maxChunk: 1024, queueBytes: 4096 })
    const handle = handleOf(new ReadableStream(), { listen: (sink) => recorder.listen(sink) })
    const subscriber = slowThenFast(20)
    recorder.started(1, 1)
    const done = deliveredAll(new Execution(handle, options), subscriber, LINES + 2)
    // The child's output arrives while the subscriber is congested; the recorder queues what it may not push.
    for (let i = 0; i < LINES; i++) {
      while (!recorder.hasRoom) await new Promise((resolve) => setTimeout(resolve, 1))
      recorder.output('stdout', new TextEncoder().encode(LINE))
    }
    void recorder.complete({ status: 'completed', exit_code: 0, signal: null, reason: 'exited', pid: 1, pgid: 1 })
    await done
  })

  test('a transcript that writes asynchronously: each event is delivered only once its write has resolved, and in order', async () => {
    const recorder = new ExecutionRecorder({ executionId: 'e-1', command: 'x', maxChunk: 1024 })
    const handle = handleOf(new ReadableStream(), { listen: (sink) => recorder.listen(sink) })
    const written = new Set<number>()
    const early: number[] = []
    const execution = new Execution(handle, options)
    execution.recordTo({
      append: (frames) =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            for (const frame of frames) written.add((JSON.parse(frame.text) as ExecutionEvent).params.seq)
            resolve()
          }, 1),
        ),
      finish: async () => {},
    })
    const subscriber = slowThenFast(0)
    const deliver = subscriber.deliver.bind(subscriber)
    subscriber.deliver = (event, frame) => {
      if (!written.has(event.params.seq)) early.push(event.params.seq)
      return deliver(event, frame)
    }
    recorder.started(1, 1)
    const done = deliveredAll(execution, subscriber, 52)
    for (let i = 0; i < 50; i++) {
      recorder.output('stdout', new TextEncoder().encode(LINE))
      if (i % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 0))
    }
    void recorder.complete({ status: 'completed', exit_code: 0, signal: null, reason: 'exited', pid: 1, pgid: 1 })
    await done
    assert.deepEqual(early, [], 'no event was sent before the transcript had it')
  })
})
