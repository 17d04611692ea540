/**
 * @module adapters/node/local-executor — the real executor: each execution is its own process
 * group (detached: true → setsid), signals go to -pgid, output is read with back-pressure, and
 * completion is reported only once the whole group is gone.
 */
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import { basename } from 'node:path'
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import {
  ErrorCode,
  ExecutionRecorder,
  RpcError,
  type CompletedEvent,
  type CompletionFields,
  type EventFlow,
  type EventSink,
  type ControlType,
  type ExecuteParams,
  type ExecutionEvent,
  type ExecutionHandle,
  type ExecutionState,
  type Executor,
  type Hasher,
  type Utf8Decoder,
  SHUTTING_DOWN,
} from '../../src/index.ts'
import { escapedGroups, groupAlive, signalGroup, waitForGroupExit } from './spawn/process-group.ts'
import { Spawner, type ExitStatus, type SchedPolicy, type SpawnedChild } from './spawn/spawner.ts'
import { which } from './spawn/which.ts'

export interface LocalExecutorOptions {
  /** Shell for `command` strings (CC_EXECUTOR_SHELL); falls back to sh when it is not installed. */
  shell?: string
  /** Milliseconds between SIGTERM and SIGKILL (KILL_GRACE_MS). */
  killGraceMs?: number
  /** Characters of output that may wait for subscribers before the pipes are paused. */
  queueBytes?: number
  /** Longest output message (MAX_CHUNK_SIZE). */
  maxChunk?: number
  /** Environment the children inherit before their own `env`. */
  env?: Record<string, string | undefined>
  /** Output bytes (stdout + stderr) after which an execution is killed (MAX_OUTPUT_BYTES). */
  maxOutputBytes?: number
  /** Input bytes that may wait for a child that does not read its stdin; more is refused (MAX_BUFFER_SIZE). */
  maxPendingInput?: number
  /** Per-child CPU seconds and address-space bytes, applied with prlimit when it is installed. */
  cpuSeconds?: number
  memoryBytes?: number
  /** The children's Linux scheduling policy (CHILD_SCHED_POLICY; see spawner.ts). */
  schedPolicy?: SchedPolicy
}

/** Programs that buffer their stdout when it is a pipe; stdbuf makes them line-live. */
const BUFFERING_PROGRAMS = /^(claude|python[0-9.]*|node|npm|npx)$/
const UNBUFFERED_ENV = { PYTHONUNBUFFERED: '1', NODE_NO_READLINE: '1' }

export class LocalExecutor implements Executor {
  readonly shell: string
  readonly #stdbuf: string | undefined
  readonly #prlimit: string | undefined
  readonly #options: ExecutionSettings
  readonly #live = new Set<LocalExecution>()
  readonly #spawner: Spawner

  constructor({
    shell = 'bash',
    killGraceMs = 2000,
    queueBytes = 2 * 1024 * 1024,
    maxChunk = 65_536,
    env = process.env,
    maxOutputBytes = Infinity,
    maxPendingInput = 8 * 1024 * 1024,
    cpuSeconds,
    memoryBytes,
    schedPolicy = 'batch',
  }: LocalExecutorOptions = {}) {
    this.#spawner = new Spawner({ schedPolicy })
    this.shell = which(shell) ?? which('sh') ?? '/bin/sh'
    this.#stdbuf = which('stdbuf')
    this.#prlimit = cpuSeconds !== undefined || memoryBytes !== undefined ? which('prlimit') : undefined
    // A plain copy: spreading process.env itself goes through a native lookup per variable, at every start.
    this.#options = { killGraceMs, queueBytes, maxChunk, env: { ...env }, maxOutputBytes, maxPendingInput, cpuSeconds, memoryBytes }
  }

  /** The children's scheduling policy in effect (see spawner.ts). */
  get schedPolicy(): SchedPolicy {
    return this.#spawner.schedPolicy
  }

  async start(params: ExecuteParams & { execution_id: string }): Promise<ExecutionHandle> {
    if (params.cwd !== undefined && !isDirectory(params.cwd)) {
      throw new RpcError(ErrorCode.INVALID_PARAMS, `Invalid params: cwd ${params.cwd} is not a directory`)
    }
    const [file, args] = this.#commandLine(params)
    const stdinMode = params.stdin ?? 'close'
    const child = await this.#spawner
      .spawn({ file, args, cwd: params.cwd, env: { ...this.#options.env, ...UNBUFFERED_ENV, ...params.env }, stdin: stdinMode !== 'close' })
      .catch((error: NodeJS.ErrnoException) => {
        // Each argument fits (the params' schema checks that): what the system refuses is their sum with the environment, the request's doing.
        if (error.code === 'E2BIG') {
          throw new RpcError(ErrorCode.INVALID_PARAMS, `Invalid params: the arguments and environment are too large together to start ${file} (E2BIG: the system's ARG_MAX)`, { cause: 'E2BIG' })
        }
        throw new RpcError(ErrorCode.INTERNAL_ERROR, `Failed to start ${file}: ${error.message}`, { cause: error.code ?? error.message })
      })
    const execution = new LocalExecution(child, params, this.#options)
    this.#live.add(execution)
    void execution.completed.finally(() => this.#live.delete(execution))
    if (stdinMode !== 'close' && stdinMode !== 'pipe') void execution.write(stdinMode, true).catch(() => {})
    return execution
  }

  async close(): Promise<void> {
    const live = [...this.#live]
    await Promise.all(live.map((e) => e.control('CANCEL', SHUTTING_DOWN).catch(() => {})))
    await Promise.all(live.map((e) => e.completed))
    this.#spawner.close()
  }

  #commandLine(params: ExecuteParams): [string, string[]] {
    let argv = params.argv ?? [this.shell, '-c', params.command!]
    const program = params.argv ? argv[0] : firstWord(params.command!)
    if (this.#stdbuf && BUFFERING_PROGRAMS.test(basename(program))) {
      // Behind stdbuf a missing program would be stdbuf's exit 127; unwrapped it is a spawn error, and stays one.
      if (params.argv && !which(program, params.cwd)) {
        throw new RpcError(ErrorCode.INTERNAL_ERROR, `Failed to start ${program}: not found`, { cause: 'ENOENT' })
      }
      argv = [this.#stdbuf, '-o0', '-e0', ...argv]
    }
    if (this.#prlimit) {
      const { cpuSeconds, memoryBytes } = this.#options
      const limits = [cpuSeconds !== undefined && `--cpu=${cpuSeconds}`, memoryBytes !== undefined && `--as=${memoryBytes}`]
      argv = [this.#prlimit, ...limits.filter((l): l is string => typeof l === 'string'), '--', ...argv]
    }
    return [argv[0], argv.slice(1)]
  }
}

/** Node's native decoder, which is faster than TextDecoder on this path (every output byte goes through it). */
const stringDecoder = (): Utf8Decoder => {
  const decoder = new StringDecoder('utf8')
  return { write: (bytes) => decoder.write(bytes as Buffer), end: () => decoder.end() }
}

type ExecutionSettings = Required<Omit<LocalExecutorOptions, 'shell' | 'cpuSeconds' | 'memoryBytes' | 'schedPolicy'>> &
  Pick<LocalExecutorOptions, 'cpuSeconds' | 'memoryBytes'>

const sha256 = (): Hasher => {
  const hash = createHash('sha256')
  return { update: (text) => void hash.update(text, 'utf8'), digest: () => hash.digest('hex') }
}

/** Why the server ended an execution; absent when the process ended by itself. */
type Ending = { status: 'canceled' | 'timeout' | 'killed'; reason: string }

class LocalExecution implements ExecutionHandle {
  readonly id: string
  readonly pid: number
  readonly pgid: number
  readonly command: string
  readonly completed: Promise<CompletedEvent>
  #state: ExecutionState = 'running'
  readonly #child: SpawnedChild
  readonly #recorder: ExecutionRecorder
  readonly #killGraceMs: number
  #ending: Ending | undefined
  #interrupted = false
  #killTimer: ReturnType<typeof setTimeout> | undefined
  /** Groups of descendants that left ours (setsid), found at each signal; they are signalled with it. */
  readonly #escaped = new Set<number>()
  #wallTimer: ReturnType<typeof setTimeout> | undefined
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  readonly #idleMs: number | undefined
  #lastOutput = performance.now()
  #pausedAt = 0
  #readingPaused = false

  readonly #maxOutputBytes: number
  readonly #maxPendingInput: number
  #outputBytes = 0

  get events(): ReadableStream<ExecutionEvent> {
    return this.#recorder.events
  }

  listen(sink: EventSink): EventFlow {
    return this.#recorder.listen(sink)
  }

  constructor(child: SpawnedChild, params: ExecuteParams & { execution_id: string }, options: ExecutionSettings) {
    this.#child = child
    this.id = params.execution_id
    this.pid = child.pid
    this.pgid = child.pid
    this.command = params.command ?? params.argv!.map(shellQuote).join(' ')
    this.#killGraceMs = options.killGraceMs
    this.#maxOutputBytes = options.maxOutputBytes
    this.#maxPendingInput = options.maxPendingInput
    this.#recorder = new ExecutionRecorder({
      executionId: this.id,
      command: this.command,
      queueBytes: options.queueBytes,
      policy: params.backpressure ?? 'block',
      maxChunk: options.maxChunk,
      createHasher: sha256,
      createDecoder: stringDecoder,
      onDemand: () => this.#resumeReading(),
    })
    this.#recorder.started(this.pid, this.pgid)

    const { stdout, stderr } = child
    this.#read(stdout, 'stdout')
    this.#read(stderr, 'stderr')
    child.stdin?.on('error', () => {}) // EPIPE once the child has exited: the write's callback reports it.

    const pipesClosed = Promise.all([closed(stdout), closed(stderr)])
    this.completed = this.#finish(child.exited, pipesClosed, [stdout, stderr])

    if (params.timeout !== undefined) {
      this.#wallTimer = setTimeout(() => this.#terminate({ status: 'timeout', reason: `timeout: exceeded ${params.timeout}s` }), params.timeout * 1000)
    }
    this.#idleMs = params.idle_timeout === undefined ? undefined : params.idle_timeout * 1000
    this.#armIdle(this.#idleMs)
  }

  get state(): ExecutionState {
    return this.#state
  }

  async control(type: ControlType, reason?: string): Promise<{ status: string }> {
    if (this.#state === 'exited') throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `Execution ${this.id} has already ended`)
    switch (type) {
      case 'PAUSE':
        if (this.#state !== 'paused') {
          this.#signal('SIGSTOP')
          this.#state = 'paused'
          this.#pausedAt = performance.now()
          clearTimeout(this.#idleTimer)
          this.#recorder.marker('process.paused')
        }
        return { status: 'paused' }
      case 'RESUME':
        if (this.#state === 'paused') {
          this.#signal('SIGCONT')
          this.#state = 'running'
          // Paused time does not count towards idle_timeout.
          this.#lastOutput += performance.now() - this.#pausedAt
          this.#armIdle(this.#idleRemaining())
          this.#recorder.marker('process.resumed')
        }
        return { status: 'resumed' }
      case 'CANCEL':
        this.#terminate({ status: 'canceled', reason: reason ?? 'canceled by client' })
        return { status: 'canceled' }
      case 'KILL':
        this.#ending ??= { status: 'killed', reason: reason ?? 'killed by client (SIGKILL)' }
        this.#signal('SIGCONT')
        this.#signal('SIGKILL')
        return { status: 'killed' }
      case 'INTERRUPT':
        this.#interrupted = true
        this.#signal('SIGINT')
        return { status: 'interrupted' }
    }
  }

  write(data: string, eof: boolean): Promise<{ written: number }> {
    const stdin = this.#child.stdin
    if (!stdin) {
      return Promise.reject(new RpcError(ErrorCode.INVALID_PARAMS, 'stdin is not open: start the execution with stdin: "pipe"'))
    }
    if (stdin.writableEnded || this.#state === 'exited') {
      return Promise.reject(new RpcError(ErrorCode.NO_SUCH_PROCESS, 'stdin is already closed'))
    }
    const written = Buffer.byteLength(data)
    // One input is always taken (its size is bounded by the request's); beyond that, what waits for a
    // child that does not read stays within the execution's buffer budget.
    const waiting = stdin.writableLength
    if (waiting > 0 && waiting + written > this.#maxPendingInput) {
      return Promise.reject(
        new RpcError(ErrorCode.RATE_LIMITED, `stdin is full: ${waiting} bytes are still waiting for the child to read them; send more once an earlier input is answered`),
      )
    }
    return new Promise((resolve, reject) => {
      const done = (error?: Error | null) => {
        // Node calls back without an error for a write still under way when the stream was destroyed
        // (here: the child's end closed, read as ECONNRESET): those bytes never reached the child.
        const failure = error?.message ?? (stdin.destroyed ? 'the child closed its stdin before reading it' : undefined)
        if (failure === undefined) resolve({ written })
        else reject(new RpcError(ErrorCode.NO_SUCH_PROCESS, `stdin write failed: ${failure}`))
      }
      // The callback fires once the pipe took the bytes: a child that does not read holds the reply back.
      if (eof) stdin.end(data, done)
      else stdin.write(data, done)
    })
  }

  /** Sends SIGTERM to the group (after SIGCONT, so a paused group can die), SIGKILL after the grace. */
  #terminate(ending: Ending, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): void {
    if (this.#state === 'exited' || this.#ending) return
    this.#ending = ending
    if (ending.status === 'canceled') this.#recorder.marker('process.canceled')
    this.#signal('SIGCONT')
    this.#signal(signal)
    this.#killTimer = setTimeout(() => this.#killLeft(), this.#killGraceMs)
  }

  /** Signals our group and every group its descendants made (looked up first: once a parent dies they are init's). */
  #signal(signal: NodeJS.Signals): void {
    for (const group of escapedGroups(this.pid, this.pgid)) this.#escaped.add(group)
    signalGroup(this.pgid, signal)
    for (const group of this.#escaped) signalGroup(group, signal)
  }

  #groupsAlive(): number[] {
    return [this.pgid, ...this.#escaped].filter((group) => groupAlive(group))
  }

  #killLeft(): void {
    for (const group of this.#groupsAlive()) signalGroup(group, 'SIGKILL')
  }

  #read(stream: Readable, type: 'stdout' | 'stderr'): void {
    stream.on('data', (chunk: Uint8Array) => {
      // Read only by idle_timeout: a clock read costs a line on its way out a microsecond or two.
      if (this.#idleMs !== undefined) this.#lastOutput = performance.now()
      this.#outputBytes += chunk.byteLength
      if (this.#outputBytes > this.#maxOutputBytes) {
        this.#terminate({ status: 'killed', reason: `output limit exceeded: more than ${this.#maxOutputBytes} bytes` }, 'SIGKILL')
      }
      if (!this.#recorder.output(type, chunk)) this.#pauseReading()
    })
    stream.once('end', () => this.#recorder.endOutput(type))
  }

  #pauseReading(): void {
    if (this.#readingPaused) return
    this.#readingPaused = true
    this.#child.stdout.pause()
    this.#child.stderr.pause()
  }

  #resumeReading(): void {
    if (!this.#readingPaused) return
    this.#readingPaused = false
    this.#child.stdout.resume()
    this.#child.stderr.resume()
  }

  #idleRemaining(): number | undefined {
    return this.#idleMs === undefined ? undefined : this.#idleMs - (performance.now() - this.#lastOutput)
  }

  #armIdle(delayMs: number | undefined): void {
    if (delayMs === undefined) return
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      const remaining = this.#idleRemaining()!
      if (remaining > 0) return this.#armIdle(remaining)
      this.#terminate({ status: 'timeout', reason: `idle_timeout: no output for ${this.#idleMs! / 1000}s` })
    }, Math.max(delayMs, 0))
  }

  /** Completion waits for the leader, then for the rest of its group, then for the pipes to drain. */
  async #finish(
    leaderExit: Promise<ExitStatus>,
    pipesClosed: Promise<unknown>,
    pipes: Readable[],
  ): Promise<CompletedEvent> {
    const status = await leaderExit
    this.#state = 'exited'
    clearTimeout(this.#wallTimer)
    clearTimeout(this.#idleTimer)
    let leftovers = false
    const alive = this.#groupsAlive()
    if (alive.length > 0) {
      // Processes the command left in the background: they go with it, so none is left behind.
      leftovers = true
      if (!this.#ending) {
        for (const group of alive) signalGroup(group, 'SIGTERM')
        this.#killTimer = setTimeout(() => this.#killLeft(), this.#killGraceMs)
      }
      await Promise.all(alive.map((group) => waitForGroupExit(group)))
    }
    clearTimeout(this.#killTimer)
    await drained(pipesClosed, pipes, this.#killGraceMs, () => this.#readingPaused)
    return this.#recorder.complete(this.#completion(status, leftovers))
  }

  #completion({ code, signal, lost }: ExitStatus, leftovers: boolean): CompletionFields {
    const base = { pid: this.pid, pgid: this.pgid, exit_code: code, signal }
    // A cancel, timeout or kill signalled the whole group itself: its reason stands as given, however
    // long the other members took to go after the leader.
    if (this.#ending) return { ...base, ...this.#ending }
    const suffix = leftovers ? '; processes it left in its group were terminated' : ''
    if (lost) return { ...base, status: 'failed', reason: lost + suffix }
    if (signal) {
      const reason = this.#interrupted && signal === 'SIGINT' ? 'interrupted by client (SIGINT)' : `killed by ${signal}`
      return { ...base, status: 'killed', reason: reason + suffix }
    }
    const interrupted = this.#interrupted ? ' after an interrupt' : ''
    return code === 0
      ? { ...base, status: 'completed', reason: `exited with code 0${interrupted}${suffix}` }
      : { ...base, status: 'failed', reason: `exited with code ${code}${interrupted}${suffix}` }
  }
}

function closed(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed) resolve()
    else stream.once('close', () => resolve())
  })
}

/**
 * Waits for the pipes to close. A process that left the group (setsid) can hold them open forever,
 * so once reading is not held back by a slow subscriber they are given `graceMs` and then closed.
 */
async function drained(pipesClosed: Promise<unknown>, pipes: Readable[], graceMs: number, held: () => boolean): Promise<void> {
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined
    const expired = await Promise.race([
      pipesClosed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ])
    clearTimeout(timer)
    if (!expired) return
    if (!held()) {
      for (const pipe of pipes) pipe.destroy()
      await pipesClosed
      return
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

function firstWord(command: string): string {
  return command.trimStart().split(/[\s;&|<>()]/, 1)[0]
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`
}
