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

/** Reads NDJSON lines one at a time as they arrive, heartbeats skipped; `next` throws once the body has ended. */
export function notificationReader(response: Response): { next: () => Promise<Notification>; cancel: () => Promise<void> } {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  let rest = ''
  const next = async (): Promise<Notification> => {
    for (;;) {
      const newline = rest.indexOf('\n')
      if (newline >= 0) {
        const line = rest.slice(0, newline)
        rest = rest.slice(newline + 1)
        const message = JSON.parse(line) as Notification
        if (message.method !== 'heartbeat') return message
        continue
      }
      const { value, done } = await reader.read()
      if (done) throw new Error('the stream ended')
      rest += value
    }
  }
  return { next, cancel: () => reader.cancel() }
}

export const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
