/**
 * @module adapters/node/spawn/spawner — starts children from a small helper process (spawner-helper.mjs)
 * instead of from the server itself. fork() copies the page tables of the process that calls it,
 * and Node's event loop waits meanwhile, so a spawn costs more the more memory the caller maps: a
 * loaded server maps far more than the small helper, and a burst of starts would stall it. The helper
 * hands each child's pipes (FIFOs where it can: see spawner-helper.mjs) over its IPC channel; the
 * server reads and writes them directly and signals the child's process group itself, so only the
 * start and the exit status pass the helper.
 *
 * Children are scheduled as SCHED_BATCH by default (Linux, with util-linux's chrt): the same share
 * of the CPU as normal processes, but a child that wakes up does not preempt the task running. A
 * child blocked on a full pipe is woken each time the server empties it; under the normal policy
 * those wake-ups preempted the server in the middle of relaying that child's output, over and over
 * for every bulk write.
 * The helper takes the policy before it starts anything, and its children inherit it.
 *
 * Should the helper die, children it started run on: their exit status is lost, so their exit is
 * reported with `lost` (the reason) once their pid is gone, and the next spawn starts a new helper.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readdirSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { processExists, signalGroup, waitForProcessExit } from './process-group.ts'
import { which } from './which.ts'

const HELPER = fileURLToPath(new URL('./spawner-helper.mjs', import.meta.url))
/**
 * Where the helpers' FIFO directories go: /dev/shm where it can be written (a tmpfs: making a FIFO
 * on a journaling file system such as ext4 waits for its journal, which a spawn then waits for),
 * else the temporary directory. Each is this prefix, the server's pid, a random part.
 */
export const FIFO_BASE = writableDir('/dev/shm') ? '/dev/shm' : tmpdir()
const FIFO_DIR_PREFIX = 'cc-executor-fifo-'

function writableDir(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK)
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * Removes the FIFO directories of servers that are gone. A helper removes its own when it leaves and
 * the server removes a dead helper's, but neither can when both were killed at once, or when the
 * server stopped while a dead helper's mkfifo was still adding to the directory.
 */
function removeStaleFifoDirs(): void {
  try {
    for (const name of readdirSync(FIFO_BASE)) {
      const pid = name.startsWith(FIFO_DIR_PREFIX) ? Number.parseInt(name.slice(FIFO_DIR_PREFIX.length), 10) : Number.NaN
      if (pid > 0 && !processExists(pid)) void rm(join(FIFO_BASE, name), { recursive: true, force: true }).catch(() => {})
    }
  } catch {} // no temporary directory to read: no FIFOs either
}

/**
 * chrt's path where it can set SCHED_BATCH here ('' where it is missing, or refused: a seccomp
 * profile may deny the call), found by running chrt under that policy once.
 */
function batchChrt(): string {
  const chrt = which('chrt')
  return chrt && spawnSync(chrt, ['--batch', '0', chrt, '--version'], { stdio: 'ignore' }).status === 0 ? chrt : ''
}

/** 'batch': children run as SCHED_BATCH where chrt is installed; 'normal': as the server does. */
export type SchedPolicy = 'batch' | 'normal'

export interface SpawnerOptions {
  schedPolicy?: SchedPolicy
}

export interface SpawnRequest {
  file: string
  args: string[]
  cwd?: string
  env: Record<string, string | undefined>
  /** Whether the child gets a stdin pipe (otherwise /dev/null). */
  stdin: boolean
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
  /** Set when the status is unknown: why. */
  lost?: string
}

export interface SpawnedChild {
  pid: number
  stdin: Socket | null
  stdout: Socket
  stderr: Socket
  exited: Promise<ExitStatus>
}

type StreamName = 'stdin' | 'stdout' | 'stderr'

type HelperMessage =
  | { id: number; stream: StreamName; pid?: number }
  | { id: number; exit: [number | null, NodeJS.Signals | null] }
  | { id: number; error: string; code?: string }

/** A child between the request and its exit. */
interface Child {
  /** The helper that was asked to start it. */
  helper: ChildProcess
  wantsStdin: boolean
  pid?: number
  pipes: Partial<Record<StreamName, Socket>>
  exited: Promise<ExitStatus>
  started?: SpawnedChild
  resolve(child: SpawnedChild): void
  reject(error: Error): void
  exit(status: ExitStatus): void
}

export class Spawner {
  #helper: ChildProcess | undefined
  #nextId = 1
  readonly #children = new Map<number, Child>()
  /** chrt's path when children are to run as SCHED_BATCH and it can; '' otherwise. */
  readonly #chrt: string

  /** Starts the helper now, so that the first execution does not wait for Node to boot. */
  constructor({ schedPolicy = 'batch' }: SpawnerOptions = {}) {
    this.#chrt = schedPolicy === 'batch' ? batchChrt() : ''
    removeStaleFifoDirs()
    this.#helper = this.#start()
  }

  /** The children's policy: 'batch' only where chrt could set it (the helper applies it). */
  get schedPolicy(): SchedPolicy {
    return this.#chrt ? 'batch' : 'normal'
  }

  /** Spawns a child in its own process group (setsid); rejects with the spawn error's code (ENOENT...). */
  spawn(request: SpawnRequest): Promise<SpawnedChild> {
    const helper = (this.#helper ??= this.#start())
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      let exit!: (status: ExitStatus) => void
      const exited = new Promise<ExitStatus>((r) => (exit = r))
      this.#children.set(id, { helper, wantsStdin: request.stdin, pipes: {}, exited, resolve, reject, exit })
      // While anything is under way the channel keeps the event loop alive; idle, it does not.
      if (this.#children.size === 1) helper.channel?.ref()
      helper.send({ id, ...request })
    })
  }

  /** Lets the helper go (it exits when its channel closes); children already started run on. */
  close(): void {
    const helper = this.#helper
    this.#helper = undefined
    if (helper?.connected) helper.disconnect()
  }

  #start(): ChildProcess {
    // Where the helper makes its FIFOs (see spawner-helper.mjs); without one it uses Node's pipes.
    let fifoDir: string | undefined
    try {
      fifoDir = mkdtempSync(join(FIFO_BASE, `${FIFO_DIR_PREFIX}${process.pid}-`))
    } catch {}
    const helper = fork(HELPER, [this.#chrt, ...(fifoDir ? [fifoDir] : [])], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    // A helper that dies removes nothing; a mkfifo it started may still be adding to the directory (retried).
    if (fifoDir) helper.once('exit', () => void rm(fifoDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }).catch(() => {}))
    helper.unref()
    helper.channel?.unref()
    helper.on('message', (message: HelperMessage, handle?: Socket) => this.#receive(message, handle))
    // Its last messages (a pid, a pipe) may still be unread when 'exit' comes: the channel's end
    // ('disconnect') comes after them.
    helper.once('exit', () => (helper.connected ? helper.once('disconnect', () => this.#lost(helper)) : this.#lost(helper)))
    helper.on('error', () => {}) // a send to a helper that just died; its exit handles the rest
    return helper
  }

  #receive(message: HelperMessage, handle: Socket | undefined): void {
    const child = this.#children.get(message.id)
    if (!child) return
    if ('stream' in message) {
      if (message.pid !== undefined) child.pid = message.pid
      if (handle) child.pipes[message.stream] = handle
      const { stdin, stdout, stderr } = child.pipes
      if (stdout && stderr && (stdin || !child.wantsStdin) && child.pid !== undefined) {
        const started = { pid: child.pid, stdin: stdin ?? null, stdout, stderr, exited: child.exited }
        child.started = started
        child.resolve(started)
      }
    } else if ('exit' in message) {
      this.#forget(message.id)
      child.exit({ code: message.exit[0], signal: message.exit[1] })
    } else {
      this.#forget(message.id)
      child.reject(Object.assign(new Error(message.error), { code: message.code }))
    }
  }

  #forget(id: number): void {
    this.#children.delete(id)
    if (this.#children.size === 0) this.#helper?.channel?.unref()
  }

  /** The helper is gone: requests fail, started children are reported once their pid is gone. */
  #lost(helper: ChildProcess): void {
    if (this.#helper === helper) this.#helper = undefined
    const reason = `exit status unknown: the spawn helper (pid ${helper.pid}) exited while the child ran`
    for (const [id, child] of [...this.#children]) {
      if (child.helper !== helper) continue
      this.#forget(id)
      if (child.started) {
        void waitForProcessExit(child.started.pid).then(() => child.exit({ code: null, signal: null, lost: reason }))
        continue
      }
      // Half started: nobody could control or read it, so it must not run.
      for (const pipe of Object.values(child.pipes)) pipe.destroy()
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
      child.reject(new Error('the spawn helper exited before the child started'))
    }
  }
}
