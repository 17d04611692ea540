/**
 * Measure 12's live part: one fast stream taken by chromium's own WebSocket in a page that does
 * nothing but count (the most a page can take), next to the console page and a Node `ws` client on
 * the same stream. The page is the execution's only subscriber, so lossless back-pressure paces the
 * child to it: the execution's running time is the page's intake time.
 */
import type { CDPSession, Page } from 'playwright-core'

/** The page's JS heap (CDP Performance.getMetrics JSHeapUsedSize), in MiB. */
export async function heapMiB(cdp: CDPSession): Promise<number> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] }
  return metrics.find((m) => m.name === 'JSHeapUsedSize')!.value / 1048576
}

/**
 * Attaches to `executionId` over /ws/mcp from `page` (any page of the server's origin) and counts
 * the output's characters until process.completed; the handler only parses each message.
 */
export function socketIntake(page: Page, executionId: string): Promise<{ characters: number; messages: number }> {
  return page.evaluate(async (id) => {
    const socket = new WebSocket(`ws://${location.host}/ws/mcp`)
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true })
      socket.addEventListener('error', () => reject(new Error('the WebSocket did not open')), { once: true })
    })
    return new Promise<{ characters: number; messages: number }>((resolve) => {
      let characters = 0
      let messages = 0
      socket.addEventListener('message', (event) => {
        messages++
        const message = JSON.parse(event.data as string)
        if (message.method === 'process.output') characters += message.params.data.length
        else if (message.method === 'process.completed') {
          socket.close()
          resolve({ characters, messages })
        }
      })
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'attach', params: { execution_id: id, after_seq: 0 } }))
    })
  }, executionId)
}

/** Starts measuring the page's longest timer delay (a 50 ms interval's lateness); `lag` reads it. */
export async function watchLag(page: Page): Promise<() => Promise<number>> {
  await page.evaluate(() => {
    const w = window as unknown as { lag: number }
    w.lag = 0
    let last = performance.now()
    setInterval(() => {
      const now = performance.now()
      w.lag = Math.max(w.lag, now - last - 50)
      last = now
    }, 50)
  })
  return () => page.evaluate(() => (window as unknown as { lag: number }).lag)
}
