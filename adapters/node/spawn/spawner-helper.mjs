/**
 * The spawn helper (see spawner.ts): started by the server with an IPC channel, it spawns each
 * requested child with piped stdio, hands the pipes to the server and reports the child's exit.
 * Plain JavaScript with nothing but node: imports, so that it runs without tsx and its memory, which
 * every fork() it makes has to copy the page tables of, stays small.
 *
 * Arguments: chrt's path or '' (see below), then the FIFO directory, if any.
 * Server → helper: { id, file, args, cwd, env, stdin }
 * helper → server: { id, stream: 'stdout' | 'stderr' | 'stdin', pid } with the pipe as the handle,
 *                  { id, exit: [code, signal] } once the child has exited,
 *                  { id, error, code } when it could not be started.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, openSync, rmSync, unlinkSync } from 'node:fs'
import { Socket } from 'node:net'
import { join } from 'node:path'

// Ctrl-C reaches the whole foreground process group, this helper included: only the server decides
// when it ends, by closing the channel (or by dying, which closes it too).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {})

/**
 * With chrt's path, this helper makes itself SCHED_BATCH before it starts anything, so that every
 * child inherits the policy (see spawner.ts for why). Should chrt fail, children run as normal.
 */
const [chrt, fifoDir] = process.argv.slice(2)
if (chrt) {
  try {
    execFileSync(chrt, ['--batch', '--pid', '0', String(process.pid)], { stdio: 'ignore' })
  } catch {}
}

/**
 * A child's stdout and stderr are FIFOs where they can be. Node's 'pipe' is a socket pair, and a
 * child writing into a socket costs more than into a pipe, for the writer and the reader alike: a
 * socket takes each small write as a buffer of its own, a pipe copies it into pages. Node cannot
 * make an anonymous pipe, so the helper keeps a few
 * named ones ready in the private directory the server gives it (argv[3]; mkfifo, mode 600), uses
 * each once and unlinks it as soon as both ends are open. With no directory, none ready (a burst of
 * starts) or no mkfifo, a child gets Node's pipes.
 */
const FIFOS_READY = 32
const fifos = { dir: fifoDir, usable: fifoDir !== undefined, ready: [], made: 0, making: false }

function makeFifos() {
  if (fifos.making || !fifos.usable || fifos.ready.length >= FIFOS_READY / 2) return
  const paths = Array.from({ length: FIFOS_READY - fifos.ready.length }, () => join(fifos.dir, String(fifos.made++)))
  fifos.making = true
  execFile('mkfifo', ['-m', '600', ...paths], (error) => {
    fifos.making = false
    // The channel may have closed meanwhile, even before this helper could see it happen.
    if (!process.connected) return leave()
    if (error) fifos.usable = false // no mkfifo here (or no room): Node's pipes from now on
    else fifos.ready.push(...paths)
  })
}

/** The server has gone: the directory goes too (once no mkfifo is adding to it), then this helper. */
function leave() {
  if (fifos.dir) rmSync(fifos.dir, { recursive: true, force: true })
  process.exit(0)
}
process.on('disconnect', () => fifos.making || leave())

/** Two FIFOs opened at both ends and unlinked ([stdout, stderr]), or undefined when none are ready. */
function takeFifos() {
  if (fifos.ready.length < 2) return undefined
  const paths = fifos.ready.splice(0, 2)
  const opened = []
  try {
    for (const path of paths) {
      // The read end first: with a reader there, opening the write end (blocking, as the child expects it) does not wait.
      const read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
      opened.push(read)
      const write = openSync(path, constants.O_WRONLY)
      opened.push(write)
      unlinkSync(path)
    }
    return [{ read: opened[0], write: opened[1] }, { read: opened[2], write: opened[3] }]
  } catch {
    // Out of file descriptors, say: this child gets Node's pipes, or the error they meet.
    for (const fd of opened) closeSync(fd)
    for (const path of paths) rmSync(path, { force: true })
    return undefined
  }
}

makeFifos()

process.on('message', ({ id, file, args, cwd, env, stdin }) => {
  const fifo = takeFifos()
  const closeReadEnds = () => fifo?.forEach(({ read }) => closeSync(read))
  let child
  try {
    child = spawn(file, args, { cwd, env, detached: true, stdio: [stdin ? 'pipe' : 'ignore', fifo?.[0].write ?? 'pipe', fifo?.[1].write ?? 'pipe'] })
  } catch (error) {
    closeReadEnds()
    process.send({ id, error: error.message, code: error.code })
    return
  } finally {
    fifo?.forEach(({ write }) => closeSync(write)) // the child has its own copies
  }
  if (child.pid === undefined) {
    closeReadEnds()
    child.once('error', (error) => process.send({ id, error: error.message, code: error.code }))
    return
  }
  const [stdout, stderr] = fifo ? fifo.map(({ read }) => new Socket({ fd: read, readable: true, writable: false })) : [child.stdout, child.stderr]
  // A Node pipe starts reading as soon as it exists; stop it before the event loop runs again so
  // that every byte stays in the kernel for the server. Sending a pipe closes this process's copy.
  // Node has no public call for this: should a Node version lack the handle's readStop(), the
  // request fails with that reason (and the child is killed) rather than losing output.
  if (typeof stdout._handle?.readStop !== 'function' || typeof stderr._handle?.readStop !== 'function') {
    process.kill(-child.pid, 'SIGKILL')
    process.send({ id, error: `this Node (${process.version}) has no pipe handle readStop(): the spawn helper cannot hand pipes over`, code: 'ENOTSUP' })
    return
  }
  stdout._handle.readStop()
  stderr._handle.readStop()
  process.send({ id, stream: 'stdout', pid: child.pid }, stdout)
  process.send({ id, stream: 'stderr' }, stderr)
  if (child.stdin) process.send({ id, stream: 'stdin' }, child.stdin)
  // More FIFOs once this start is on its way: starting mkfifo blocks this helper for a fork.
  setImmediate(makeFifos)
  child.on('error', () => {}) // after a successful start only a failed kill() emits it, and none is made here
  child.once('exit', (code, signal) => process.send({ id, exit: [code, signal] }))
})
