/**
 * The least a Worker can do to be a gateway, for bench section 8's floor: on /ws/mcp it sends the
 * connected frame, and for an `execute` request it POSTs /v1/executions upstream and sends every
 * NDJSON line of the response on as a WebSocket message (the execute result made from
 * process.started). No validation, no other method, no cancel, no resume: not for use, only to show
 * what workerd itself costs per hop.
 */
export default {
  async fetch(request, env) {
    if (request.headers.get('upgrade') !== 'websocket') return Response.json({ runtime: 'workerd' })
    const [client, server] = Object.values(new WebSocketPair())
    server.accept()
    server.send(JSON.stringify({ jsonrpc: '2.0', method: 'connected', params: {} }))
    server.addEventListener('message', async ({ data }) => {
      const { id, method, params } = JSON.parse(data)
      if (method !== 'execute') return
      const response = await fetch(`${env.EXECUTOR_URL}/v1/executions`, {
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
            server.send(JSON.stringify({ jsonrpc: '2.0', id, result: { status: 'started', execution_id, pid, pgid } }))
          }
          server.send(line)
        }
      }
    })
    return new Response(null, { status: 101, webSocket: client })
  },
}
