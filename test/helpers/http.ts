/** Reading streamed HTTP responses (NDJSON and SSE) in tests. */

export type Notification = { jsonrpc: '2.0'; method: string; params: any }

/** Every NDJSON line of a response body, parsed, until the body ends. */
export async function readNdjson(response: Response): Promise<Notification[]> {
  const text = await response.text()
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line))
}

/** Reads NDJSON lines as they arrive; `until` decides when to stop (the body is then cancelled). */
export async function readNdjsonUntil(response: Response, until: (n: Notification, all: Notification[]) => boolean): Promise<Notification[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  const all: Notification[] = []
  let buffered = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return all
    buffered += value
    let newline: number
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      if (line === '') continue
      const n = JSON.parse(line) as Notification
      all.push(n)
      if (until(n, all)) {
        await reader.cancel()
        return all
      }
    }
  }
}

export const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
