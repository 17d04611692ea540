/**
 * The baseline of bench measures 1 and 4: the simplest Node WebSocket server that relays a
 * command's output with this product's duties, namely a JSON-RPC notification per read, the output's SHA-256,
 * and a transcript line appended before each send. It speaks just enough of the protocol for
 * bench/lib/rpc-client.ts (`connected`, execute's result, process.output, process.completed), and
 * has no line framing, validation, limits, back-pressure, control or stderr: a yardstick, not a server.
 *
 * Prints its port on stdout once listening; transcripts go to a temporary directory, and each is
 * deleted when its execution ends.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'

const dir = mkdtempSync(join(tmpdir(), 'cc-bench-relay-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`))
wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'connected', params: { session_id: 'relay' } }))
  ws.on('message', (message) => {
    const { id, params } = JSON.parse(String(message))
    const executionId = params.execution_id
    const child = spawn('sh', ['-c', params.command], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
    ws.send(JSON.stringify({ jsonrpc: '2.0', result: { status: 'started', execution_id: executionId, pid: child.pid, pgid: child.pid }, id }))
    const transcriptPath = join(dir, `${executionId}.ndjson`)
    const transcript = openSync(transcriptPath, 'a')
    const hash = createHash('sha256')
    let seq = 0
    let bytes = 0
    const emit = (method, fields) => {
      const text = JSON.stringify({ jsonrpc: '2.0', method, params: { execution_id: executionId, seq: ++seq, ...fields } })
      writeSync(transcript, `${text}\n`)
      ws.send(text)
    }
    child.stdout.setEncoding('utf8').on('data', (data) => {
      bytes += Buffer.byteLength(data)
      hash.update(data)
      emit('process.output', { type: 'stdout', data })
    })
    child.on('close', (code, signal) => {
      emit('process.completed', { status: 'completed', exit_code: code, signal, stdout_bytes: bytes, stderr_bytes: 0, sha256: hash.digest('hex') })
      closeSync(transcript)
      // Kept no longer than the execution, like the bench's servers keep at most MAX_DATA_MB (bench/lib/server.ts).
      rmSync(transcriptPath, { force: true })
    })
  })
})
