/**
 * Everything the bench starts (servers, websocketd, helper pipelines, the process groups of the
 * executions it asked for) is registered here, so that it is gone when the bench ends: normally,
 * on an exception, or on SIGINT/SIGTERM.
 */

type Task = () => Promise<void> | void

const tasks = new Set<Task>()
/** Process groups to SIGKILL if they are still registered when the bench exits. */
const groups = new Set<number>()
/** Single processes (not group leaders of their own) to SIGKILL at exit. */
const pids = new Set<number>()

/** Registers an async cleanup task; returns a function that unregisters it. */
export function onCleanup(task: Task): () => void {
  tasks.add(task)
  return () => void tasks.delete(task)
}

/** Registers a process group (an execution's pgid, a detached helper) for a last-resort SIGKILL. */
export function trackGroup(pgid: number): () => void {
  groups.add(pgid)
  return () => void groups.delete(pgid)
}

export function trackPid(pid: number): () => void {
  pids.add(pid)
  return () => void pids.delete(pid)
}

function kill(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal)
  } catch {
    // ESRCH: already gone.
  }
}

/** Synchronous last resort, safe inside process.on('exit'). */
function killRemaining(): void {
  for (const pgid of groups) kill(-pgid, 'SIGKILL')
  for (const pid of pids) kill(pid, 'SIGKILL')
  groups.clear()
  pids.clear()
}

let running: Promise<void> | undefined

/** Runs the registered tasks (newest first), then SIGKILLs whatever is still registered. */
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
    killRemaining()
  })())
}

export function installExitHandlers(): void {
  process.on('exit', killRemaining)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`)
      // A second signal, or a cleanup that hangs, still ends the bench (the exit hook SIGKILLs).
      setTimeout(() => process.exit(130), 10_000).unref()
      void cleanupAll().finally(() => process.exit(130))
    })
  }
}
