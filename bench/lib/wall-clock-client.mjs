/**
 * An independent client for bench measure 4b, sharing no code with the bench: a plain `ws` client
 * that connects, runs a Python child printing its wall clock (`time.time()`) every 10 ms, parses
 * every frame with JSON.parse, and takes latency = its own wall clock at receipt − the printed time.
 * Usage: node wall-clock-client.mjs <ws url> <lines>; prints {"samples":[ms…],"errors":[…]} as one line.
 */
import WebSocket from 'ws'

const [url, linesArg = '200'] = process.argv.slice(2)
const lines = Number(linesArg)
const command = `python3 -u -c 'import time
for i in range(${lines}): print(time.time(), flush=True); time.sleep(0.01)'`
const samples = []
const errors = []
let partial = ''
const ws = new WebSocket(url, { perMessageDeflate: false })
ws.on('message', (data) => {
  // Date.now() has whole milliseconds; the time origin plus the monotonic clock is the wall clock to the microsecond.
  const now = (performance.timeOrigin + performance.now()) / 1000
  const frame = JSON.parse(String(data))
  if (frame.method === 'connected') {
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute', params: { command, execution_id: `wall-${process.pid}-${Date.now()}` } }))
  } else if (frame.method === 'process.output' && frame.params.type === 'stdout') {
    const text = partial + frame.params.data
    const end = text.lastIndexOf('\n')
    partial = text.slice(end + 1)
    for (const line of text.slice(0, end + 1).split('\n')) if (line !== '') samples.push((now - Number(line)) * 1000)
  } else if (frame.method === 'process.completed') {
    if (samples.length !== lines) errors.push(`received ${samples.length} lines, expected ${lines}`)
    ws.close()
  } else if (frame.error) errors.push(JSON.stringify(frame.error))
})
ws.on('close', () => {
  process.stdout.write(`${JSON.stringify({ samples, errors })}\n`)
  process.exit(0)
})
ws.on('error', (error) => {
  errors.push(String(error))
  process.stdout.write(`${JSON.stringify({ samples, errors })}\n`)
  process.exit(1)
})
