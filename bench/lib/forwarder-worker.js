/** bench/lib/forwarder.js as a Worker (section 8's floor): what workerd itself costs per hop. */
import { CONNECTED, forward } from './forwarder.js'

export default {
  async fetch(request, env) {
    if (request.headers.get('upgrade') !== 'websocket') return Response.json({ runtime: 'workerd' })
    const [client, server] = Object.values(new WebSocketPair())
    server.accept()
    server.send(CONNECTED)
    server.addEventListener('message', ({ data }) => void forward(data, env.EXECUTOR_URL, (text) => server.send(text)))
    return new Response(null, { status: 101, webSocket: client })
  },
}
