/**
 * The spawn helper (see spawner.ts): started by the server with an IPC channel, it spawns each
 * requested child with piped stdio, hands the pipes to the server and reports the child's exit.
 * Plain JavaScript with nothing but node: imports, so that it runs without tsx and its memory, which
 * every fork() it makes has to copy the page tables of, stays small.
 *
 * Server → helper: { id, file, args, cwd, env, stdin }
 * helper → server: { id, stream: 'stdout' | 'stderr' | 'stdin', pid } with the pipe as the handle,
 *                  { id, exit: [code, signal] } once the child has exited,
 *                  { id, error, code } when it could not be started.
 */
import { spawn } from 'node:child_process'

// Ctrl-C reaches the whole foreground process group, this helper included: only the server decides
// when it ends, by closing the channel (or by dying, which closes it too).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {})
process.on('disconnect', () => process.exit(0))

process.on('message', ({ id, file, args, cwd, env, stdin }) => {
  let child
  try {
    child = spawn(file, args, { cwd, env, detached: true, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
  } catch (error) {
    process.send({ id, error: error.message, code: error.code })
    return
  }
  if (child.pid === undefined) {
    child.once('error', (error) => process.send({ id, error: error.message, code: error.code }))
    return
  }
  // A Node pipe starts reading as soon as it exists; stop it before the event loop runs again so
  // that every byte stays in the kernel for the server. Sending a pipe closes this process's copy.
  // Node has no public call for this: should a Node version lack the handle's readStop(), the
  // request fails with that reason (and the child is killed) rather than losing output.
  if (typeof child.stdout._handle?.readStop !== 'function' || typeof child.stderr._handle?.readStop !== 'function') {
    process.kill(-child.pid, 'SIGKILL')
    process.send({ id, error: `this Node (${process.version}) has no pipe handle readStop(): the spawn helper cannot hand pipes over`, code: 'ENOTSUP' })
    return
  }
  child.stdout._handle.readStop()
  child.stderr._handle.readStop()
  process.send({ id, stream: 'stdout', pid: child.pid }, child.stdout)
  process.send({ id, stream: 'stderr' }, child.stderr)
  if (child.stdin) process.send({ id, stream: 'stdin' }, child.stdin)
  child.on('error', () => {}) // after a successful start only a failed kill() emits it, and none is made here
  child.once('exit', (code, signal) => process.send({ id, exit: [code, signal] }))
})
