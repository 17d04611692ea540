/**
 * The least a gateway can do, for the bench's floors (sections 8 and 9): for an `execute` request
 * it POSTs /v1/executions upstream and sends every NDJSON line of the response on as a WebSocket
 * message (the execute result made from process.started). No validation, no other method, no
 * cancel, no resume: not for use, only to show what a runtime itself costs per hop.
 */

/** The greeting a bench client waits for. */
export const CONNECTED = JSON.stringify({ jsonrpc: '2.0', method: 'connected', params: {} })

/** Handles one client message (`text`); `send` puts a text message on the client's socket. */
export async function forward(text, executorUrl, send) {
  const { id, method, params } = JSON.parse(text)
  if (method !== 'execute') return
  const response = await fetch(`${executorUrl}/v1/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  })
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffered = ''
  let started = false
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffered += value
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 1)
      if (!started && line.includes('"process.started"')) {
        started = true
        const { execution_id, pid, pgid } = JSON.parse(line).params
        send(JSON.stringify({ jsonrpc: '2.0', id, result: { status: 'started', execution_id, pid, pgid } }))
      }
      send(line)
    }
  }
}
