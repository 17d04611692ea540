/**
 * Everything the bench starts (servers, websocketd, helper pipelines, the process groups of the
 * executions it asked for) is stopped here when the bench ends: normally, on an exception, or on
 * SIGINT/SIGTERM. Stopping is a registered task; what must die regardless is tracked by
 * test/helpers/tracker.ts, which the tests share, and SIGKILLed last.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killTracked, onTerminatingSignal } from '../../test/helpers/tracker.ts'

type Task = () => Promise<void> | void

const tasks = new Set<Task>()

/** Registers an async cleanup task; returns a function that unregisters it. */
export function onCleanup(task: Task): () => void {
  tasks.add(task)
  return () => void tasks.delete(task)
}

/** A fresh temporary directory for the duration of `body`, removed after it (or at the bench's cleanup). */
export async function withTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const remove = () => rmSync(dir, { recursive: true, force: true })
  const unregister = onCleanup(remove)
  try {
    return await body(dir)
  } finally {
    unregister()
    remove()
  }
}

let running: Promise<void> | undefined

/** Runs the registered tasks (newest first), then kills whatever is still tracked. */
export function cleanupAll(): Promise<void> {
  return (running ??= (async () => {
    for (const task of [...tasks].reverse()) {
      tasks.delete(task)
      try {
        await task()
      } catch (error) {
        process.stderr.write(`cleanup: ${(error as Error).message}\n`)
      }
    }
    killTracked()
  })())
}

export function installExitHandlers(): void {
  onTerminatingSignal((signal) => {
    process.stderr.write(`\nbench: ${signal}, cleaning up\n`)
    // A second signal, or a cleanup that hangs, still ends the bench (the exit hook kills what is tracked).
    setTimeout(() => process.exit(130), 10_000).unref()
    void cleanupAll().finally(() => process.exit(130))
  })
}
