/**
 * A server that cannot start says why in one line on stderr, naming the setting to change, and
 * exits non-zero (2), before it listens: a bad value, a busy port, an address that is not this
 * machine's, a data directory it cannot use. Each is the real `npm start` / main.ts process.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ROOT } from '../helpers/server.ts'

interface Exit {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `command args` in the repository with `env` added, to its end (killed after 30 s). */
async function run(command: string, args: string[], env: Record<string, string>): Promise<Exit> {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const [code] = (await once(child, 'close')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

const main = (env: Record<string, string>, args: string[] = []) => run(process.execPath, ['--import', 'tsx', 'adapters/node/main.ts', ...args], env)

/** Exit code 2, nothing on stdout (but npm's banner), exactly one line on stderr: returns that line. */
function oneLine(exit: Exit, { npm = false } = {}): string {
  const context = `\n--- stdout ---\n${exit.stdout}\n--- stderr ---\n${exit.stderr}`
  assert.equal(exit.code, 2, `exit code${context}`)
  // `npm start` prints its own "> cc-executor@… start" banner on stdout; the server prints nothing there.
  const stdout = npm ? exit.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('> ')) : exit.stdout.split('\n').filter((l) => l !== '')
  assert.deepEqual(stdout, [], `nothing on stdout${context}`)
  const lines = exit.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `one line on stderr${context}`)
  assert.match(lines[0], /^cc-executor: /)
  return lines[0]
}

describe('startup errors: one line, a non-zero exit', () => {
  let dataDir: string
  let busy: Server
  let busyPort: number

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cc-executor-startup-'))
    busy = createServer()
    busy.listen(0, '127.0.0.1')
    await once(busy, 'listening')
    busyPort = (busy.address() as AddressInfo).port
  })
  after(() => {
    busy.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('a bad setting value names the setting and its flag', async () => {
    const line = oneLine(await main({ CC_EXECUTOR_DATA_DIR: dataDir, WEBSOCKET_HEARTBEAT_INTERVAL: '-1' }))
    assert.match(line, /WEBSOCKET_HEARTBEAT_INTERVAL \(--websocket-heartbeat-interval\)/)
    assert.match(oneLine(await main({ CC_EXECUTOR_DATA_DIR: dataDir }, ['--port', '70000'])), /invalid PORT \(--port\)/)
    // Number() reads ' ' as 0 (any free port) and '0x10' as 16: neither is a number a user meant.
    assert.match(oneLine(await main({ CC_EXECUTOR_DATA_DIR: dataDir, PORT: ' ' })), /invalid PORT \(--port\)/)
    assert.match(oneLine(await main({ CC_EXECUTOR_DATA_DIR: dataDir, MAX_DATA_MB: '0x10' })), /MAX_DATA_MB/)
  })

  test('`npm start` on a busy port names the port and the setting to change (PORT / --port)', async () => {
    const line = oneLine(await run('npm', ['start'], { CC_EXECUTOR_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(busyPort) }), { npm: true })
    assert.match(line, new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is already in use`))
    assert.match(line, /PORT \(--port\)/)
  })

  test('a HOST that is not an address of this machine names HOST', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
    const line = oneLine(await main({ CC_EXECUTOR_DATA_DIR: dataDir, HOST: '192.0.2.1', PORT: '0' }, ['--insecure']))
    assert.match(line, /cannot listen on 192\.0\.2\.1 \(EADDRNOTAVAIL\): set HOST \(--host\)/)
  })

  test('a data directory that cannot be made or used names CC_EXECUTOR_DATA_DIR', async () => {
    // A regular file where a directory must be: unusable even by root (a mode-000 directory is not).
    const file = join(dataDir, 'a-file')
    writeFileSync(file, 'not a directory\n')
    // Under /proc, mkdir answers ENOENT for a parent that exists: Node's recursive mkdir loops on it forever.
    for (const dir of [file, join(file, 'data'), '/proc/cc-executor-test/data']) {
      const line = oneLine(await main({ CC_EXECUTOR_DATA_DIR: dir, PORT: '0' }))
      assert.match(line, /invalid CC_EXECUTOR_DATA_DIR \(--cc-executor-data-dir\): cannot use /)
      assert.ok(line.includes(dir), line)
    }
  })
})
