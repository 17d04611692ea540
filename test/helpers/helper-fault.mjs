/**
 * Test-only fault injection for the spawn helper (adapters/node/spawn/spawner-helper.mjs), loaded with
 * NODE_OPTIONS=--import into every Node process a test server starts; it acts only in the helper.
 * A request whose arguments contain the text in CC_TEST_HELPER_DIES_ON makes the helper SIGKILL
 * itself after handing over the child's pid and stdout pipe and before the stderr pipe: the
 * half-started window that no outside signal can hit reliably.
 */
const marker = process.env.CC_TEST_HELPER_DIES_ON

if (marker && process.argv[1]?.endsWith('spawner-helper.mjs') && process.send) {
  const doomed = new Set()
  // The helper's own request listener is wrapped, not joined by a second one: a listener added
  // here would start the channel before the helper listens, and the first requests would be lost.
  const on = process.on.bind(process)
  process.on = (event, listener) =>
    on(event, event !== 'message' ? listener : (message, handle) => {
      if (Array.isArray(message?.args) && message.args.some((arg) => String(arg).includes(marker))) doomed.add(message.id)
      listener(message, handle)
    })
  const send = process.send.bind(process)
  process.send = (message, ...rest) => {
    if (doomed.has(message?.id) && message.stream === 'stderr') process.kill(process.pid, 'SIGKILL')
    return send(message, ...rest)
  }
}
