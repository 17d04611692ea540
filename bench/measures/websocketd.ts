/**
 * Measure 3: websocketd (one WebSocket message per stdout line) serving the same `yes | head`
 * pipeline, bound to 127.0.0.1 on a free port, read by a `ws` client until the server closes.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import WebSocket from 'ws'
import { onCleanup } from '../lib/cleanup.ts'
import { freePort } from '../../test/helpers/net.ts'
import { sleep } from '../../test/helpers/proc.ts'
import { yesCommand } from './throughput.ts'

export interface WebsocketdRun {
  ms: number
  /** Message bytes plus the newline websocketd strips from each line, to compare with our 115 B lines. */
  bytes: number
  messages: number
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => (socket.destroy(), resolve(true)))
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`websocketd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`)
    await sleep(25)
  }
}

export interface Websocketd {
  url: string
  stop(): Promise<void>
}

/** Starts websocketd serving `bash -c "yes ... | head -n lines"`, in its own process group. */
export async function startWebsocketd(binary: string, lines: number): Promise<Websocketd> {
  const port = await freePort()
  const child = spawn(binary, ['--address=127.0.0.1', `--port=${port}`, '--loglevel=error', 'bash', '-c', yesCommand(lines)], {
    detached: true, // its own group: the per-connection bash, yes and head go with it
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = once(child, 'exit')
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      unregister()
      if (child.exitCode !== null || child.signalCode !== null) return
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        try {
          process.kill(-child.pid!, signal)
        } catch {
          return // the group is gone
        }
        const timer = sleep(2000).then(() => 'timeout')
        if ((await Promise.race([exited.then(() => 'exited'), timer])) === 'exited') break
      }
      // Leftover connection children (bash, yes, head) share the group; make sure they are gone too.
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
    })())
  const unregister = onCleanup(stop)
  try {
    await Promise.race([
      waitForPort(port, 5000),
      exited.then(([code]) => {
        throw new Error(`websocketd exited (${code}): ${stderr.trim()}`)
      }),
    ])
  } catch (error) {
    await stop()
    throw error
  }
  return { url: `ws://127.0.0.1:${port}/`, stop }
}

/** One connection: websocketd spawns the pipeline, sends each line, closes when it exits. */
export async function websocketdThroughput(url: string): Promise<WebsocketdRun> {
  const start = process.hrtime.bigint()
  const ws = new WebSocket(url, { perMessageDeflate: false })
  let bytes = 0
  let messages = 0
  ws.on('message', (data: Buffer) => {
    bytes += data.length + 1
    messages += 1
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.once('close', () => resolve())
  })
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, bytes, messages }
}
