/**
 * @module adapters/node/file-store — transcripts and records on disk, one pair of files per
 * execution under CC_EXECUTOR_DATA_DIR: `<id>.ndjson` (every event, appended before it is sent) and
 * `<id>.json` (the record). At startup, executions the last run left running are marked
 * "interrupted" (their transcript gets the completion they never had) and their process groups
 * are killed; records past RETENTION_HOURS or beyond MAX_RECORDS are deleted.
 *
 * Records are read from disk only at startup (by open(), then by records() for the registry). After
 * that the store keeps what retention needs (state, end time, bytes) in memory: re-reading
 * thousands of records (synchronously) for each prune would block the event loop, every session's
 * included, for the whole read.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync, writevSync } from 'node:fs'
import { open, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import type { CompletedEvent, ExecutionRecord, ExecutionStore, Frame, Logger, TranscriptWriter } from '../../src/index.ts'
import { groupAlive, signalGroup } from './spawn/process-group.ts'

export interface FileStoreOptions {
  /** Records (and transcripts) older than this many hours after their end are deleted. */
  retentionHours: number
  /** At most this many records are kept; the oldest go first. */
  maxRecords: number
  /**
   * Bytes that records and transcripts may take on disk (MAX_DATA_MB). Past it, the oldest finished
   * executions are deleted until 90 % of it is left; running ones are never deleted.
   */
  maxBytes?: number
  /** Told the ids of the executions whose files were deleted (the registry forgets them). */
  onDeleted?: (ids: string[]) => void
  logger?: Logger
}

/**
 * Appends frames' lines: one write for one (a line of output on its way to a reader: a frame made
 * as text is written as a string), one writev per 1,024 (IOV_MAX) for more. A short write is a
 * failure, as a full disk is.
 */
function appendLines(fd: number, frames: readonly Frame[]): number {
  if (frames.length === 1) {
    const text = frames[0].readyText
    if (text !== undefined) return checkWrite(writeSync(fd, `${text}\n`), frames[0].utf8Length(Buffer.byteLength) + 1)
    const { line } = frames[0]
    return checkWrite(writeSync(fd, line), line.byteLength)
  }
  let total = 0
  for (let i = 0; i < frames.length; i += 1024) {
    const lines = frames.slice(i, i + 1024).map((frame) => frame.line)
    total += checkWrite(writevSync(fd, lines), lines.reduce((sum, line) => sum + line.byteLength, 0))
  }
  return total
}

function checkWrite(written: number, wanted: number): number {
  if (written !== wanted) throw new Error(`short write to the transcript: ${written} of ${wanted} bytes`)
  return written
}

/** Execution ids are also file names; the protocol restricts them, and this checks again. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/


/** Bytes a transcript replay reads at a time. */
const READ_CHUNK = 64 * 1024

type StoredRecord = ExecutionRecord & { boot_id?: string }

/** What retention needs to know of one execution on disk. */
interface Entry {
  exited: boolean
  /** ended_at (started_at for a record without one), in ms since the epoch: what RETENTION_HOURS counts from. */
  endedAt: number
  recordBytes: number
  transcriptBytes: number
}

const entryBytes = (entry: Entry) => entry.recordBytes + entry.transcriptBytes

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return undefined
  }
}

export class FileStore implements ExecutionStore {
  readonly dir: string
  readonly #options: FileStoreOptions
  readonly #bootId = bootId()
  /** Every execution with files here, oldest first (a Map keeps insertion order, and ids are added as they start). */
  readonly #entries = new Map<string, Entry>()
  /** Bytes of all their files. */
  #bytes = 0

  private constructor(dir: string, options: FileStoreOptions) {
    this.dir = dir
    this.#options = options
  }

  /** Creates the directory, recovers what the last run left running, and applies retention. */
  static async open(dir: string, options: FileStoreOptions): Promise<FileStore> {
    mkdirSync(dir, { recursive: true })
    const store = new FileStore(dir, options)
    for (const stored of store.#storedRecords()) {
      const record = stored.state === 'exited' ? stored : await store.#interrupted(stored)
      store.#track(record, store.#size(record.id, 'json'), store.#size(record.id, 'ndjson'))
    }
    await store.prune()
    return store
  }

  has(id: string): boolean {
    return this.#entries.has(id)
  }

  async create(record: ExecutionRecord): Promise<TranscriptWriter> {
    const id = checked(record.id)
    // Creating files waits for the file system's journal, which a busy disk makes slow: those calls
    // go to the thread pool, so a burst of starts does not stall the event loop.
    const entry = this.#track(record, await this.#writeRecord({ ...record, boot_id: this.#bootId }))
    // 'wx': a transcript already there (whoever left it) is never appended to.
    const file = await open(this.#path(id, 'ndjson'), 'wx')
    const fd = file.fd
    let failed: Error | undefined
    return {
      // Synchronous on purpose: a write to the page cache is cheaper than a thread-pool round trip, and the
      // event must be in the file before anyone is sent it.
      append: (frames) => {
        if (failed) return Promise.reject(failed)
        try {
          const written = appendLines(fd, frames)
          entry.transcriptBytes += written
          this.#bytes += written
        } catch (error) {
          failed = error as Error
          return Promise.reject(failed)
        }
      },
      finish: async (final) => {
        await file.close()
        this.#update(entry, final, await this.#writeRecord({ ...final, boot_id: this.#bootId }))
        if (this.#bytes > (this.#options.maxBytes ?? Infinity)) void this.prune()
      },
    }
  }

  /**
   * The transcript's lines with fromSeq <= seq <= toSeq. Read a chunk at a time, each with its own
   * open and close, and only as fast as the caller takes lines: a replay stalled on a slow client
   * holds at most one chunk's lines and no file (readline reads far ahead of its consumer).
   */
  async *read(id: string, fromSeq: number, toSeq = Infinity): AsyncIterable<string> {
    const path = this.#path(checked(id), 'ndjson')
    const decoder = new StringDecoder('utf8')
    const chunk = Buffer.allocUnsafe(READ_CHUNK)
    let position = 0
    let partial = ''
    for (;;) {
      const file = await open(path, 'r')
      const { bytesRead } = await file.read(chunk, 0, READ_CHUNK, position).finally(() => file.close())
      const text = partial + decoder.write(chunk.subarray(0, bytesRead))
      position += bytesRead
      const lines = text.split('\n')
      // Every event is appended with its newline: what follows the last one is still being written.
      partial = lines.pop()!
      for (const line of lines) {
        const seq = seqOf(line)
        if (seq === undefined || seq < fromSeq) continue
        if (seq > toSeq) return
        yield line
      }
      if (bytesRead === 0) return
    }
  }

  async records(): Promise<ExecutionRecord[]> {
    return this.#storedRecords().map(({ boot_id: _, ...record }) => record)
  }

  /**
   * Deletes the records and transcripts of finished executions past the retention time, beyond the
   * maximum count, or (oldest first) while they take more than the disk budget. What to delete is
   * decided from memory at once; the files go through the thread pool.
   */
  async prune(now = Date.now()): Promise<void> {
    const cutoff = now - this.#options.retentionHours * 3_600_000
    const finished = [...this.#entries].filter(([, entry]) => entry.exited)
    const excess = Math.max(0, this.#entries.size - this.#options.maxRecords)
    const doomed = new Set(finished.slice(0, excess).map(([id]) => id))
    for (const [id, entry] of finished) if (entry.endedAt < cutoff) doomed.add(id)
    let bytes = this.#bytes
    for (const id of doomed) bytes -= entryBytes(this.#entries.get(id)!)
    const budget = this.#options.maxBytes ?? Infinity
    if (bytes > budget) {
      for (const [id, entry] of finished) {
        if (bytes <= budget * 0.9) break
        if (doomed.has(id)) continue
        doomed.add(id)
        bytes -= entryBytes(entry)
      }
    }
    if (doomed.size === 0) return
    for (const id of doomed) this.#entries.delete(id)
    this.#bytes = bytes
    this.#options.logger?.info({ deleted: doomed.size, bytes_left: bytes }, 'old execution records deleted')
    // Forgotten before the files go, so that nobody starts reading a transcript that is being deleted.
    this.#options.onDeleted?.([...doomed])
    const failed = (id: string) => (error: unknown) => this.#options.logger?.warn({ err: error, execution_id: id }, 'deleting an old execution file failed')
    for (const id of doomed) {
      await rm(this.#path(id, 'json'), { force: true }).catch(failed(id))
      await rm(this.#path(id, 'ndjson'), { force: true }).catch(failed(id))
    }
  }

  /** Starts counting an execution's files; its entry then grows with its transcript. */
  #track(record: ExecutionRecord, recordBytes: number, transcriptBytes = 0): Entry {
    const entry: Entry = { exited: false, endedAt: 0, recordBytes: 0, transcriptBytes }
    this.#entries.set(record.id, entry)
    this.#bytes += transcriptBytes
    this.#update(entry, record, recordBytes)
    return entry
  }

  /** Records an execution's state and the size of its record file (its transcript's is counted as it grows). */
  #update(entry: Entry, record: Pick<ExecutionRecord, 'state' | 'started_at' | 'ended_at'>, recordBytes: number): void {
    entry.exited = record.state === 'exited'
    entry.endedAt = Date.parse(record.ended_at ?? record.started_at)
    this.#bytes += recordBytes - entry.recordBytes
    entry.recordBytes = recordBytes
  }

  /** Bytes of an execution's record or transcript (startup only). */
  #size(id: string, ext: 'json' | 'ndjson'): number {
    try {
      return statSync(this.#path(id, ext)).size
    } catch {
      return 0 // not there (yet, or any more)
    }
  }

  /**
   * An execution the last run left running: its group is killed if it is still ours, its transcript
   * gets the completion it never had, and its record says so. Resolves with that record.
   */
  async #interrupted(record: StoredRecord): Promise<StoredRecord> {
    let killed = false
    // A pgid is only ours if it was recorded during this boot; after a reboot the number may be anyone's.
    if (record.pgid !== null && record.boot_id !== undefined && record.boot_id === this.#bootId && groupAlive(record.pgid)) {
      signalGroup(record.pgid, 'SIGKILL')
      killed = true
    }
    const { lastSeq, bytes, dropped, sha256 } = await this.#summary(record.id)
    const reason = `interrupted: the server stopped while it was running${killed ? '; its process group was killed' : ''}`
    const now = new Date()
    const completion: CompletedEvent = {
      jsonrpc: '2.0',
      method: 'process.completed',
      params: {
        execution_id: record.id,
        seq: lastSeq + 1,
        status: 'interrupted',
        pid: record.pid,
        pgid: record.pgid,
        exit_code: null,
        signal: killed ? 'SIGKILL' : null,
        reason,
        execution_time: (now.getTime() - Date.parse(record.started_at)) / 1000,
        // What the transcript holds of it: every event up to the restart was written there before it was sent.
        stdout_bytes: bytes.stdout,
        stderr_bytes: bytes.stderr,
        dropped_bytes: dropped,
        transcript_sha256: sha256,
      },
    }
    writeFileSync(this.#path(record.id, 'ndjson'), `${JSON.stringify(completion)}\n`, { flag: 'a' })
    const ended: StoredRecord = {
      ...record,
      state: 'exited',
      status: 'interrupted',
      ended_at: now.toISOString(),
      reason,
      signal: completion.params.signal,
      last_seq: lastSeq + 1,
      subscribers: 0,
      exit_code: null,
      execution_time: completion.params.execution_time,
      stdout_bytes: bytes.stdout,
      stderr_bytes: bytes.stderr,
      transcript_sha256: sha256,
    }
    await this.#writeRecord(ended)
    this.#options.logger?.warn({ execution_id: record.id, pgid: record.pgid, killed }, 'execution interrupted by a restart')
    return ended
  }

  /** The last seq of a transcript, and its output's byte counts and hashes (a chunk at a time: it may be large). */
  async #summary(id: string): Promise<{ lastSeq: number; bytes: { stdout: number; stderr: number }; dropped: number; sha256: { stdout: string; stderr: string } }> {
    let lastSeq = 0
    let dropped = 0
    const bytes = { stdout: 0, stderr: 0 }
    const hashes = { stdout: createHash('sha256'), stderr: createHash('sha256') }
    try {
      for await (const line of this.read(id, 0)) {
        const { method, params } = JSON.parse(line) as { method: string; params: { seq: number; type?: 'stdout' | 'stderr'; data?: string; bytes?: number } }
        lastSeq = Math.max(lastSeq, params.seq)
        if (method === 'process.output' && (params.type === 'stdout' || params.type === 'stderr') && typeof params.data === 'string') {
          bytes[params.type] += Buffer.byteLength(params.data)
          hashes[params.type].update(params.data)
        } else if (method === 'process.dropped') dropped += params.bytes ?? 0
      }
    } catch {
      // No transcript, or an unreadable line: what was read so far is what it holds.
    }
    return { lastSeq, bytes, dropped, sha256: { stdout: hashes.stdout.digest('hex'), stderr: hashes.stderr.digest('hex') } }
  }

  #storedRecords(): StoredRecord[] {
    const records: StoredRecord[] = []
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue
      try {
        records.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')))
      } catch {
        this.#options.logger?.warn({ file: name }, 'unreadable execution record skipped')
      }
    }
    return records.sort((a, b) => a.started_at.localeCompare(b.started_at))
  }

  /** Written whole and renamed into place, so a crash never leaves half a record. Resolves with its size. */
  async #writeRecord(record: StoredRecord): Promise<number> {
    const path = this.#path(checked(record.id), 'json')
    const bytes = Buffer.from(JSON.stringify(record))
    await writeFile(`${path}.tmp`, bytes)
    await rename(`${path}.tmp`, path)
    return bytes.byteLength
  }

  #path(id: string, ext: 'json' | 'ndjson'): string {
    return join(this.dir, `${id}.${ext}`)
  }
}

function checked(id: string): string {
  if (!SAFE_ID.test(id)) throw new Error(`unsafe execution id ${JSON.stringify(id)}`)
  return id
}

/** The seq of a transcript line without parsing all of it: execution_id (no quotes in it) comes first. */
function seqOf(line: string): number | undefined {
  const match = /"seq":(\d+)/.exec(line)
  return match ? Number(match[1]) : undefined
}
