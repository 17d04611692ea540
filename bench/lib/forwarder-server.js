/**
 * bench/lib/forwarder.js served by Deno or Bun (section 9's floors), with each runtime's own
 * server and WebSocket: what the runtime itself costs per hop. Settings from the environment:
 * EXECUTOR_URL, PORT (0: any); prints the port it listens on.
 */
import { CONNECTED, forward } from './forwarder.js'

const env = (name) => (globalThis.Deno ? Deno.env.get(name) : process.env[name])
const executorUrl = env('EXECUTOR_URL')
const port = Number(env('PORT') ?? 0)
const health = (runtime) => Response.json({ runtime })

if (globalThis.Deno) {
  Deno.serve({ hostname: '127.0.0.1', port, onListen: ({ port }) => console.log(port) }, (request) => {
    if (request.headers.get('upgrade') !== 'websocket') return health('deno')
    const { socket, response } = Deno.upgradeWebSocket(request)
    socket.onopen = () => socket.send(CONNECTED)
    socket.onmessage = ({ data }) => void forward(data, executorUrl, (text) => socket.send(text))
    return response
  })
} else {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port,
    fetch: (request, server) => (server.upgrade(request) ? undefined : health('bun')),
    websocket: {
      open: (ws) => ws.send(CONNECTED),
      message: (ws, data) => void forward(String(data), executorUrl, (text) => ws.send(text)),
    },
  })
  console.log(server.port)
}
