/**
 * @module adapters/node/file-store — transcripts and records on disk, one pair of files per
 * execution under CC_EXECUTOR_DATA_DIR: `<id>.ndjson` (every event, appended before it is sent) and
 * `<id>.json` (the record). At startup, executions the last run left running are marked
 * "interrupted" (their transcript gets the completion they never had) and their process groups
 * are killed; records past RETENTION_HOURS or beyond MAX_RECORDS are deleted.
 */
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writevSync } from 'node:fs'
import { open, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { CompletedEvent, ExecutionRecord, ExecutionStore, Logger, TranscriptWriter } from '../../src/index.ts'
import { groupAlive, signalGroup } from './process-group.ts'
import { utf8 } from './utf8.ts'

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

/** Execution ids are also file names; the protocol restricts them, and this checks again. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

const NEWLINE = Buffer.from('\n')

type StoredRecord = ExecutionRecord & { boot_id?: string }

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
  /** Bytes on disk as of the last prune, plus what has been appended since. */
  #bytes = 0

  private constructor(dir: string, options: FileStoreOptions) {
    this.dir = dir
    this.#options = options
  }

  /** Creates the directory, recovers what the last run left running, and applies retention. */
  static async open(dir: string, options: FileStoreOptions): Promise<FileStore> {
    mkdirSync(dir, { recursive: true })
    const store = new FileStore(dir, options)
    await store.#recover()
    store.prune()
    return store
  }

  async create(record: ExecutionRecord): Promise<TranscriptWriter> {
    const id = checked(record.id)
    // Creating files waits for the file system's journal, which a busy disk makes slow: those calls
    // go to the thread pool, so a burst of starts does not stall the event loop.
    await this.#writeRecord({ ...record, boot_id: this.#bootId })
    const file = await open(this.#path(id, 'ndjson'), 'a')
    const fd = file.fd
    let failed: Error | undefined
    return {
      // Synchronous on purpose: a write to the page cache is cheaper than a thread-pool round trip, and the
      // event must be in the file before anyone is sent it.
      append: (text) => {
        if (failed) return Promise.reject(failed)
        try {
          this.#bytes += writevSync(fd, [utf8(text), NEWLINE])
        } catch (error) {
          failed = error as Error
          return Promise.reject(failed)
        }
      },
      finish: async (final) => {
        await file.close()
        await this.#writeRecord({ ...final, boot_id: this.#bootId })
        if (this.#bytes > (this.#options.maxBytes ?? Infinity)) this.prune()
      },
    }
  }

  async *read(id: string, fromSeq: number, toSeq = Infinity): AsyncIterable<string> {
    const lines = createInterface({ input: createReadStream(this.#path(checked(id), 'ndjson'), { encoding: 'utf8' }), crlfDelay: Infinity })
    try {
      for await (const line of lines) {
        const seq = seqOf(line)
        if (seq === undefined || seq < fromSeq) continue
        if (seq > toSeq) break
        yield line
      }
    } finally {
      lines.close()
    }
  }

  async records(): Promise<ExecutionRecord[]> {
    return this.#storedRecords().map(({ boot_id: _, ...record }) => record)
  }

  /**
   * Deletes the records and transcripts of finished executions past the retention time, beyond the
   * maximum count, or (oldest first) while they take more than the disk budget.
   */
  prune(now = Date.now()): void {
    const cutoff = now - this.#options.retentionHours * 3_600_000
    const records = this.#storedRecords()
    const finished = records.filter((r) => r.state === 'exited')
    const excess = Math.max(0, records.length - this.#options.maxRecords)
    const doomed = new Set(finished.slice(0, excess).map((r) => r.id))
    for (const r of finished) if (Date.parse(r.ended_at ?? r.started_at) < cutoff) doomed.add(r.id)
    const sizes = new Map(records.map((r) => [r.id, this.#size(r.id)]))
    let bytes = 0
    for (const [id, size] of sizes) if (!doomed.has(id)) bytes += size
    const budget = this.#options.maxBytes ?? Infinity
    if (bytes > budget) {
      for (const r of finished) {
        if (bytes <= budget * 0.9) break
        if (doomed.has(r.id)) continue
        doomed.add(r.id)
        bytes -= sizes.get(r.id)!
      }
    }
    for (const id of doomed) {
      rmSync(this.#path(id, 'json'), { force: true })
      rmSync(this.#path(id, 'ndjson'), { force: true })
    }
    this.#bytes = bytes
    if (doomed.size > 0) {
      this.#options.logger?.info({ deleted: doomed.size, bytes_left: bytes }, 'old execution records deleted')
      this.#options.onDeleted?.([...doomed])
    }
  }

  /** Bytes of an execution's record and transcript. */
  #size(id: string): number {
    let size = 0
    for (const ext of ['json', 'ndjson'] as const) {
      try {
        size += statSync(this.#path(id, ext)).size
      } catch {
        // not there (yet, or any more)
      }
    }
    return size
  }

  async #recover(): Promise<void> {
    for (const record of this.#storedRecords()) {
      if (record.state === 'exited') continue
      let killed = false
      // A pgid is only ours if it was recorded during this boot; after a reboot the number may be anyone's.
      if (record.pgid !== null && record.boot_id !== undefined && record.boot_id === this.#bootId && groupAlive(record.pgid)) {
        signalGroup(record.pgid, 'SIGKILL')
        killed = true
      }
      const lastSeq = this.#lastSeqOnDisk(record.id)
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
          stdout_bytes: 0,
          stderr_bytes: 0,
          dropped_bytes: 0,
          transcript_sha256: null,
        },
      }
      writeFileSync(this.#path(record.id, 'ndjson'), `${JSON.stringify(completion)}\n`, { flag: 'a' })
      await this.#writeRecord({
        ...record,
        state: 'exited',
        status: 'interrupted',
        ended_at: now.toISOString(),
        reason,
        signal: completion.params.signal,
        last_seq: lastSeq + 1,
        subscribers: 0,
      })
      this.#options.logger?.warn({ execution_id: record.id, pgid: record.pgid, killed }, 'execution interrupted by a restart')
    }
  }

  #lastSeqOnDisk(id: string): number {
    let text: string
    try {
      text = readFileSync(this.#path(id, 'ndjson'), 'utf8')
    } catch {
      return 0
    }
    const lines = text.trimEnd().split('\n')
    for (let i = lines.length - 1; i >= 0; i--) {
      const seq = seqOf(lines[i])
      if (seq !== undefined) return seq
    }
    return 0
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

  /** Written whole and renamed into place, so a crash never leaves half a record. */
  async #writeRecord(record: StoredRecord): Promise<void> {
    const path = this.#path(checked(record.id), 'json')
    await writeFile(`${path}.tmp`, JSON.stringify(record))
    await rename(`${path}.tmp`, path)
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
