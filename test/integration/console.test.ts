/**
 * The web console in a real browser: Debian's chromium driven by playwright-core against the real
 * Node server (port 0), real executions, and for the Claude task the real Claude Code CLI with the
 * scripted Messages API. Screenshots of each main view go to this test's temporary directory.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { BrowserContext, Page } from 'playwright-core'
import { collectErrors, launchChromium, terminalText, type LaunchedBrowser } from '../helpers/browser.ts'
import { post } from '../helpers/http.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { claudeHome, CLAUDE_BIN, runThenReport, startMessagesApi, type MessagesApi } from '../helpers/messages-api.ts'
import { eventually, sleep } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

export const SHOTS = mkdtempSync(join(tmpdir(), 'cc-executor-console-shots-'))

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

describe('the web console in chromium', () => {
  let server: RunningServer
  let api: MessagesApi
  let home: ReturnType<typeof claudeHome>
  let chromium: LaunchedBrowser
  let context: BrowserContext

  const start = async (body: Record<string, unknown>) => {
    const response = await post(`${server.url}/v1/executions`, { detach: true, ...body })
    assert.equal(response.status, 202, await response.clone().text())
    return ((await response.json()) as { execution_id: string }).execution_id
  }
  const record = async (id: string) => (await (await fetch(`${server.url}/v1/executions/${id}`)).json()) as Record<string, any>
  const open = async (path: string, viewport = { width: 1280, height: 800 }) => {
    const page = await context.newPage()
    await page.setViewportSize(viewport)
    const errors = collectErrors(page)
    await page.goto(server.url + path)
    return { page, errors }
  }

  before(async () => {
    api = await startMessagesApi((request) => runThenReport(request))
    home = claudeHome(api)
    ;[server, chromium] = await Promise.all([startServer({ ...home.env, CLAUDE_BIN }), launchChromium()])
    context = chromium.context
  })
  after(async () => {
    await chromium?.close()
    await server?.stop()
    await api?.close()
    home?.remove()
  })

  test('the page loads at / and /console with no console errors, its assets cached by content hash', async () => {
    const { page, errors } = await open('/')
    await page.getByRole('heading', { name: 'Executions' }).waitFor()
    await page.locator('.live.on').waitFor()
    const html = await fetch(`${server.url}/console`)
    assert.equal(html.status, 200)
    assert.equal(html.headers.get('cache-control'), 'no-cache')
    const script = /src="\/console\/assets\/(console\.[0-9a-f]{12}\.js)"/.exec(await html.text())
    assert.ok(script, 'the page names its script by a content hash')
    const asset = await fetch(`${server.url}/console/assets/${script[1]}`)
    assert.equal(asset.status, 200)
    assert.match(asset.headers.get('content-type') ?? '', /javascript/)
    assert.match(asset.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/)
    assert.equal((await fetch(`${server.url}/console/assets/console.000000000000.js`)).status, 404)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('an execution started over HTTP appears in the list within 1 s, and its state follows', async () => {
    const { page, errors } = await open('/')
    await page.locator('.live.on').waitFor()
    const started = Date.now()
    const id = await start({ command: 'sleep 0.6; echo listed', label: 'list-test' })
    const row = page.locator(`tr[data-id="${id}"]`)
    await row.waitFor({ timeout: 1000 })
    const seen = Date.now() - started
    assert.ok(seen < 1000, `listed after ${seen} ms`)
    await row.locator('.status-running').waitFor()
    await row.locator('.status-completed').waitFor({ timeout: 5000 })
    assert.equal(await row.locator('td.col-4').innerText(), 'list-test')
    assert.equal(await row.locator('td.col-7').innerText(), '0')
    // Filters: by state, then by label.
    await page.locator('#filter-state').selectOption('failed')
    await row.waitFor({ state: 'detached' })
    await page.locator('#filter-state').selectOption('')
    await page.locator('#filter-label').selectOption('list-test')
    // The server lists by the filter: its list comes a moment later.
    await row.waitFor()
    await until('the label filter', async () => /^1 of \d+ match$/.test(await page.locator('.toolbar .count').innerText()))
    assert.equal(await page.locator('tbody tr').count(), 1)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('opening an execution shows its output lines as they arrive, stderr in red', async () => {
    const id = await start({ command: 'for i in 1 2 3 4; do echo line-$i; sleep 0.5; done; echo oops >&2' })
    const { page, errors } = await open(`/executions/${id}`)
    await until('line-1', async () => (await terminalText(page)).includes('line-1'))
    assert.ok(!(await terminalText(page)).includes('line-4'), 'line-1 shows before line-4 is printed')
    await until('line-4', async () => (await terminalText(page)).includes('line-4'))
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 5000 })
    const text = await terminalText(page)
    assert.match(text, /line-1\nline-2\nline-3\nline-4\noops/)
    const red = await page.evaluate(() => {
      const buffer = window.ccConsole!.terminal.buffer.active
      for (let i = 0; i < buffer.length; i++) {
        const line = buffer.getLine(i)!
        if (line.translateToString(true) === 'oops') return { fg: line.getCell(0)!.getFgColor(), palette: line.getCell(0)!.isFgPalette() }
      }
      return undefined
    })
    assert.deepEqual(red, { fg: 1, palette: true }, 'stderr is written in red (palette colour 1)')
    await page.screenshot({ path: join(SHOTS, 'command.png') })
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('a fast 56 MB stream: the page keeps up, skips what the terminal could not keep and says so, its scrollback ends with the last lines in order, Download output has every line', async () => {
    const LINES = 400_000
    // 140-character numbered lines: one row each at this width, and 10,000 of them (the scrollback) are 1.4 MB.
    const id = await start({ command: `sleep 1; seq -f '%0140.0f' 1 ${LINES}` })
    const { page, errors } = await open(`/executions/${id}`, { width: 1600, height: 800 })
    await page.waitForFunction(() => window.ccConsole?.terminal)
    // Every text written to the terminal is checked for the note on skipped output.
    await page.evaluate(() => {
      const terminal = window.ccConsole!.terminal
      const write = terminal.write.bind(terminal)
      const w = window as unknown as { skipNotes: string[] }
      w.skipNotes = []
      terminal.write = (data: string | Uint8Array, callback?: () => void) => {
        const note = typeof data === 'string' && /\[console: [\d,]+ lines \([\d,]+ characters\) skipped[^\]]*\]/.exec(data)
        if (note) w.skipNotes.push(note[0])
        write(data, callback)
      }
    })
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 120_000 })
    assert.equal((await record(id)).stdout_bytes, LINES * 141)
    const rows = await until('the completion in the terminal', async () => {
      const lines = await page.evaluate(() => {
        // Rows as lines: a wrapped row continues the one before it.
        const buffer = window.ccConsole!.terminal.buffer.active
        const lines: string[] = []
        for (let i = 0; i < buffer.length; i++) {
          const line = buffer.getLine(i)!
          if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += line.translateToString(true)
          else lines.push(line.translateToString(true))
        }
        return { lines, scrollback: window.ccConsole!.terminal.options.scrollback! }
      })
      return lines.lines.some((l) => /^\[completed, exit 0/.test(l)) && lines
    })
    const skipNotes = await page.evaluate(() => (window as unknown as { skipNotes: string[] }).skipNotes)
    assert.ok(skipNotes.length > 0, 'the page skipped output, and wrote a note saying so')
    assert.match(skipNotes[0], /“Download output” has all of it/)
    // What the terminal keeps is the output's last lines, none missing: the end, then the completion.
    const output = rows.lines.slice(0, rows.lines.findIndex((l) => /^\[completed/.test(l))).filter((l) => l !== '')
    assert.ok(output.length >= rows.scrollback, `the scrollback is full of output (${output.length} lines)`)
    output.forEach((line, i) => assert.equal(Number(line), LINES - output.length + 1 + i, `line ${i} of the kept tail: ${line.slice(0, 60)}`))
    // The whole output, from the transcript.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download output' }).click()])
    assert.equal(download.suggestedFilename(), `${id}.log`)
    const saved = readFileSync((await download.path())!, 'utf8')
    assert.equal(saved.length, LINES * 141)
    const savedLines = saved.split('\n')
    assert.equal(savedLines.length, LINES + 1)
    assert.equal(Number(savedLines[0]), 1)
    assert.equal(Number(savedLines[LINES - 1]), LINES)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('output skipped to keep up is still told of once later output has pushed the note out of the scrollback', async () => {
    // A burst the page cannot keep up with (it skips), then 24,000 lines slowly enough to be written
    // whole: more than the 10,000-line scrollback, so the terminal's own note is gone by the end.
    const id = await start({ command: 'sleep 1; seq 1 500000; for i in $(seq 1 24); do seq 1 1000; sleep 0.1; done' })
    const { page, errors } = await open(`/executions/${id}`)
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 60_000 })
    await until('the completion in the terminal', async () => (await terminalText(page)).includes('[completed, exit 0'))
    const told = page.getByRole('status').filter({ hasText: /[\d,]+ lines \([\d,]+ characters\) of this output were skipped/ })
    await told.waitFor({ timeout: 2000 })
    assert.match(await told.innerText(), /“Download output” has all of it/)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('"Load all output" on a running execution replays every line from the first, none lost or doubled, while it still prints', async () => {
    const LINES = 6000
    // About a line a millisecond, each its own event: live events keep coming while the replay starts.
    const id = await start({ command: `node -e 'let i = 0; const t = setInterval(() => { console.log("n" + ++i); if (i === ${LINES}) clearInterval(t) }, 1)'` })
    await until('more than 1,000 events', async () => (await record(id)).last_seq > 1000)
    const { page, errors } = await open(`/executions/${id}`)
    const loadAll = page.getByRole('button', { name: 'Load all output' })
    await loadAll.waitFor()
    await until('the tail and the note', async () => {
      const text = await terminalText(page)
      return /earlier output not loaded/.test(text) && /^n\d+$/m.test(text)
    })
    assert.equal((await record(id)).state, 'running', 'still printing when "Load all output" is clicked')
    await loadAll.click()
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 60_000 })
    const text = await until('the completion in the terminal', async () => {
      const t = await terminalText(page)
      return t.includes('[completed, exit 0') && t
    })
    assert.ok(!text.includes('earlier output not loaded'), 'the whole output, from the start')
    const numbers = text.split('\n').filter((l) => /^n\d+$/.test(l)).map((l) => Number(l.slice(1)))
    const missing = LINES - new Set(numbers).size
    assert.deepEqual(numbers, Array.from({ length: LINES }, (_, i) => i + 1), `every line once, in order (${missing} missing, ${numbers.length} shown)`)
    assert.equal(await loadAll.isVisible(), false)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('Cancel on a running sleep 600 turns it canceled in the page and in the API', async () => {
    const id = await start({ command: 'sleep 600' })
    const { page, errors } = await open(`/executions/${id}`)
    await page.locator('.exec-head .status-running').waitFor()
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.locator('.exec-head .status-canceled').waitFor({ timeout: 5000 })
    assert.equal((await record(id)).status, 'canceled')
    assert.ok(await page.getByRole('button', { name: 'Cancel' }).isDisabled())
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('on a broken connection Cancel fails at once, saying so, and once reconnected the view shows the real state', async () => {
    const proxy = await startTcpProxy(server.port)
    try {
      const id = await start({ command: 'echo waiting; sleep 600' })
      const page = await context.newPage()
      await page.goto(`${proxy.url}/executions/${id}`)
      await page.locator('.exec-head .status-running').waitFor()
      await until('the output', async () => (await terminalText(page)).includes('waiting'))
      // The network breaks, and stays down while the execution ends elsewhere.
      proxy.refusing = true
      proxy.breakAll()
      await post(`${server.url}/v1/executions/${id}/control`, { type: 'CANCEL' })
      await until('canceled', async () => (await record(id)).status === 'canceled')
      const clicked = Date.now()
      await page.getByRole('button', { name: 'Cancel' }).click()
      await page.locator('.notice').filter({ hasText: /CANCEL: .*not connected/i }).waitFor({ timeout: 3000 })
      assert.ok(Date.now() - clicked < 3000)
      // The network is back: the list's stream and the execution's socket reconnect.
      proxy.refusing = false
      await page.locator('.exec-head .status-canceled').waitFor({ timeout: 15_000 })
      assert.ok(await page.getByRole('button', { name: 'Cancel' }).isDisabled())
      await until('the completion in the terminal', async () => (await terminalText(page)).includes('[canceled'), 15_000)
      await page.close()
    } finally {
      await proxy.close()
    }
  })

  test('Pause and Resume stop and continue the process group', async () => {
    const id = await start({ command: 'while :; do echo tick; sleep 0.2; done' })
    const { page, errors } = await open(`/executions/${id}`)
    await page.locator('.exec-head .status-running').waitFor()
    await page.getByRole('button', { name: 'Pause' }).click()
    await page.locator('.exec-head .status-paused').waitFor({ timeout: 5000 })
    assert.equal((await record(id)).state, 'paused')
    // The state comes on the list's stream, the output on the WebSocket: a tick printed just before
    // the stop may still be on its way.
    await sleep(300)
    const paused = (await terminalText(page)).split('tick').length
    await sleep(700)
    assert.equal((await terminalText(page)).split('tick').length, paused, 'no output while paused')
    assert.ok(await page.getByRole('button', { name: 'Pause' }).isDisabled())
    await page.getByRole('button', { name: 'Resume' }).click()
    await page.locator('.exec-head .status-running').waitFor({ timeout: 5000 })
    assert.equal((await record(id)).state, 'running')
    await until('more ticks', async () => (await terminalText(page)).split('tick').length > paused)
    await post(`${server.url}/v1/executions/${id}/control`, { type: 'CANCEL' })
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('a line typed into the stdin input is echoed by cat', async () => {
    const id = await start({ command: 'cat', stdin: 'pipe' })
    const { page, errors } = await open(`/executions/${id}`)
    const input = page.getByRole('textbox', { name: 'stdin' })
    await input.fill('hello from the page')
    await input.press('Enter')
    await until('the echo', async () => (await terminalText(page)).includes('hello from the page'))
    await page.getByRole('button', { name: 'Close stdin' }).click()
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 5000 })
    assert.equal(await input.isVisible(), false, 'no stdin line once it ended')
    const closed = await start({ command: 'sleep 5' })
    await page.goto(`${server.url}/executions/${closed}`)
    await page.locator('.exec-head .status-running').waitFor()
    assert.equal(await page.getByRole('textbox', { name: 'stdin' }).isVisible(), false, 'no stdin line without stdin "pipe"')
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('a Claude task shows its tool call, its result card, and its checks on Verify', async () => {
    const response = await post(`${server.url}/v1/claude`, { prompt: 'echo tool-said-$((6*7))', detach: true, label: 'claude-smoke' })
    const { execution_id: id } = (await response.json()) as { execution_id: string }
    const { page, errors } = await open(`/executions/${id}`)
    const tool = page.locator('.tool').first()
    await tool.waitFor({ timeout: 60_000 })
    assert.equal(await tool.locator('.tool-name').innerText(), 'Bash')
    await page.locator('.result-card').waitFor({ timeout: 60_000 })
    await tool.locator('summary').click()
    await until('the tool result', async () => (await tool.locator('.tool-result').innerText()).includes('tool-said-42'))
    assert.match(await tool.locator('.tool-body pre').first().innerText(), /echo tool-said-\$\(\(6\*7\)\)/)
    const card = await page.locator('.result-card').innerText()
    assert.match(card, /The command printed: tool-said-42/)
    assert.match(card, /TURNS\s+2/i)
    assert.match(card, /IS_ERROR\s+false/i)
    assert.match(card, /SESSION\s+[0-9a-f-]{36}/i)
    assert.match(await page.locator('.turns').innerText(), /I will run it\./)
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 10_000 })
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.locator('.checks.ok').waitFor({ timeout: 10_000 })
    assert.match(await page.locator('.checks').innerText(), /Verified/)
    await page.screenshot({ path: join(SHOTS, 'claude.png'), fullPage: true })
    // The list shows it as a Claude task with its prompt and cost.
    await page.goto(`${server.url}/`)
    const row = page.locator(`tr[data-id="${id}"]`)
    await row.waitFor()
    assert.equal(await row.locator('.kind').innerText(), 'CLAUDE')
    assert.equal(await row.locator('td.command').innerText(), 'echo tool-said-$((6*7))')
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('the labels table shows a label graduated after 10 successes, and one that has not', async () => {
    const runs = [...Array(10)].map(() => post(`${server.url}/v1/executions`, { command: 'true', label: 'ten-wins' }).then((r) => r.text()))
    runs.push(post(`${server.url}/v1/executions`, { command: 'exit 3', label: 'flaky' }).then((r) => r.text()))
    runs.push(post(`${server.url}/v1/executions`, { command: 'true', label: 'flaky' }).then((r) => r.text()))
    await Promise.all(runs)
    // Counted once each record is stored, just after the stream's last line.
    const labels = await until('the counts', async () => {
      const { labels } = (await (await fetch(`${server.url}/v1/labels`)).json()) as { labels: any[] }
      return labels.find((l) => l.label === 'flaky')?.successes === 1 && labels.find((l) => l.label === 'ten-wins')?.successes === 10 && labels
    })
    assert.deepEqual(labels.find((l) => l.label === 'ten-wins'), { label: 'ten-wins', successes: 10, failures: 0, ratio: 10, graduated: true })
    assert.deepEqual(labels.find((l) => l.label === 'flaky'), { label: 'flaky', successes: 1, failures: 1, ratio: 1, graduated: false })
    const { page, errors } = await open('/#labels')
    const row = page.locator('tr[data-label="ten-wins"]')
    await row.waitFor()
    assert.match(await row.innerText(), /ten-wins\s+10\s+0\s+10 : 0\s+graduated/)
    assert.equal(await page.locator('tr[data-label="flaky"] .graduated').count(), 0)
    await page.screenshot({ path: join(SHOTS, 'labels.png') })
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('a label filter that came from the URL can be cleared, and stays cleared', async () => {
    const a = await start({ command: 'true', label: 'from-url-a' })
    const b = await start({ command: 'true', label: 'from-url-b' })
    const { page, errors } = await open('/?label=from-url-a')
    await page.locator(`tr[data-id="${a}"]`).waitFor()
    assert.equal(await page.locator(`tr[data-id="${b}"]`).count(), 0)
    assert.equal(await page.locator('#filter-label').inputValue(), 'from-url-a')
    await page.locator('#filter-label').selectOption('')
    await page.locator(`tr[data-id="${b}"]`).waitFor({ timeout: 2000 })
    assert.equal(await page.locator('#filter-label').inputValue(), '')
    assert.equal(new URL(page.url()).search, '')
    // A change in the list renders it again: the filter stays cleared.
    const c = await start({ command: 'true', label: 'from-url-c' })
    await page.locator(`tr[data-id="${c}"]`).waitFor()
    assert.equal(await page.locator('#filter-label').inputValue(), '')
    assert.ok((await page.locator(`tr[data-id="${a}"]`).count()) === 1 && (await page.locator(`tr[data-id="${b}"]`).count()) === 1)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('keyboard: Tab leaves the terminal (both ways), and Space activates the New button', async () => {
    const id = await start({ command: 'echo keyboard' })
    const { page, errors } = await open(`/executions/${id}`)
    await until('the output', async () => (await terminalText(page)).includes('keyboard'))
    const inTerminal = () => page.evaluate(() => !!document.activeElement?.closest('.terminal'))
    await page.locator('#follow').focus()
    await page.keyboard.press('Tab')
    assert.equal(await inTerminal(), true, 'Tab from Follow goes into the terminal')
    await page.keyboard.press('Tab')
    assert.equal(await inTerminal(), false, 'Tab goes on out of the terminal')
    await page.locator('.xterm').click()
    assert.equal(await inTerminal(), true)
    await page.keyboard.press('Shift+Tab')
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'follow', 'Shift+Tab goes back out of it to Follow')
    const create = page.getByRole('button', { name: 'New' })
    await create.focus()
    await page.keyboard.press('Space')
    await page.getByRole('heading', { name: 'New execution' }).waitFor({ timeout: 2000 })
    assert.equal(new URL(page.url()).hash, '#new')
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('an unknown execution id shows "not found"', async () => {
    const { page } = await open('/executions/no-such-execution')
    await page.getByRole('heading', { name: 'Execution not found' }).waitFor()
    assert.match(await page.locator('.not-found').innerText(), /no-such-execution/)
    await page.close()
  })

  test('HTML in a command and in output is shown as text; ANSI escapes and invalid UTF-8 do not break the page', async () => {
    const xss = `<img src=x onerror="window.__xss=1">`
    const id = await start({ command: `echo '${xss}' ; echo '<script>window.__xss=2</script>' >&2; printf '\\033[1;32mgreen\\033[0m \\377\\376 end\\n'`, label: 'xss' })
    const { page, errors } = await open('/')
    const row = page.locator(`tr[data-id="${id}"]`)
    await row.waitFor()
    assert.match(await row.locator('td.command').innerText(), /<img src=x onerror=/)
    await row.click()
    await page.locator('.exec-head .status-completed').waitFor({ timeout: 5000 })
    assert.match(await page.locator('.command-text').innerText(), /<img src=x onerror="window.__xss=1">/)
    // stdout and stderr are two pipes: which of them is read first is the kernel's choice, so the
    // stderr line may come after the last stdout one.
    const text = await until('the output', async () => {
      const t = await terminalText(page)
      return t.includes(' end') && t.includes('__xss=2') && t
    })
    assert.ok(text.includes(xss), 'the output line shows as text')
    assert.ok(text.includes('<script>window.__xss=2</script>'))
    assert.match(text, /green \uFFFD\uFFFD end/, 'ANSI escapes are interpreted, invalid bytes replaced')
    assert.equal(await page.evaluate(() => (window as any).__xss), undefined)
    assert.equal(await page.locator('img').count(), 0)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('screenshots: the list at 1280x800 and a narrow window 400 px wide', async () => {
    const { page, errors } = await open('/')
    await page.locator('tbody tr').first().waitFor()
    await page.screenshot({ path: join(SHOTS, 'list.png') })
    await page.setViewportSize({ width: 400, height: 800 })
    await page.screenshot({ path: join(SHOTS, 'narrow-list.png') })
    const wide = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(wide <= 400, `no horizontal scroll at 400 px (${wide})`)
    const claude = await page.locator('tr:has(.kind-claude)').first().getAttribute('data-id')
    await page.goto(`${server.url}/executions/${claude}`)
    await page.locator('.result-card').waitFor({ timeout: 10_000 })
    await page.screenshot({ path: join(SHOTS, 'narrow-claude.png'), fullPage: true })
    assert.deepEqual(errors, [])
    await page.close()
    console.log(`# screenshots in ${SHOTS}`)
  })
})

describe('the web console with a token', () => {
  let server: RunningServer
  let chromium: LaunchedBrowser
  const TOKEN = 'console-test-token-0123456789'

  before(async () => {
    ;[server, chromium] = await Promise.all([startServer({ CC_EXECUTOR_AUTH_TOKEN: TOKEN }), launchChromium()])
  })
  after(async () => {
    await chromium?.close()
    await server?.stop()
  })

  test('the page loads without the token, asks for it, says so for a wrong one, and works with the right one', async () => {
    assert.equal((await fetch(`${server.url}/v1/executions`)).status, 401, 'the API still needs the token')
    const page = await chromium.context.newPage()
    await page.goto(`${server.url}/`)
    const field = page.getByLabel('Token')
    await field.waitFor()
    await field.fill('wrong-token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'refused this token' }).waitFor()
    await page.getByLabel('Token').fill(TOKEN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live.on').waitFor()
    const response = await post(`${server.url}/v1/executions`, { command: 'echo with-token', detach: true }, { authorization: `Bearer ${TOKEN}` })
    const { execution_id: id } = (await response.json()) as { execution_id: string }
    const row = page.locator(`tr[data-id="${id}"]`)
    await row.waitFor({ timeout: 2000 })
    await row.click()
    // The output comes over the WebSocket, authenticated with the subprotocol bearer.<token>.
    await until('the output', async () => (await terminalText(page)).includes('with-token'))
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cc-executor-token')), TOKEN)
    // Kept for the tab: a reload asks for nothing.
    await page.reload()
    await until('the output after a reload', async () => (await terminalText(page)).includes('with-token'))
    await page.close()
  })
})

describe('the web console over more executions than it lists', () => {
  let server: RunningServer
  let chromium: LaunchedBrowser

  before(async () => {
    ;[server, chromium] = await Promise.all([startServer(), launchChromium()])
  })
  after(async () => {
    await chromium?.close()
    await server?.stop()
  })

  const run = async (body: Record<string, unknown>) => (await post(`${server.url}/v1/executions`, body)).text()

  test('the header counts every execution and the oldest ones keep their labels, while the list holds the newest 500', async () => {
    // The oldest three are labelled; 502 newer ones push them out of the newest 500.
    for (const command of ['true', 'true', 'exit 3']) await run({ command, label: 'oldest' })
    for (let i = 0; i < 502; i += 25) await Promise.all([...Array(Math.min(25, 502 - i))].map(() => run({ command: 'true' })))
    const page = await chromium.context.newPage()
    const errors = collectErrors(page)
    await page.goto(`${server.url}/`)
    await page.locator('.live.on').waitFor()
    await until('the count', async () => /^500 of 505\b/.test(await page.locator('.toolbar .count').innerText()))
    assert.equal(await page.locator('tbody tr').count(), 500, 'the list holds the newest 500')
    const labels = () => page.locator('#filter-label option').allInnerTexts()
    assert.ok((await labels()).includes('oldest'), 'the label of executions older than the newest 500 is offered')
    // Another one: counted, its label offered, the list still bounded.
    await run({ command: 'true', label: 'newest' })
    await until('the new count', async () => /^500 of 506\b/.test(await page.locator('.toolbar .count').innerText()))
    assert.equal(await page.locator('tbody tr').count(), 500)
    assert.ok((await labels()).includes('newest'))
    // The labels' success ratios count every execution.
    await page.getByRole('link', { name: 'Labels' }).click()
    const row = page.locator('tr[data-label="oldest"]')
    await row.waitFor()
    assert.match(await row.innerText(), /oldest\s+2\s+1\s+2\.0 : 1/)
    assert.deepEqual(errors, [])
    await page.close()
  })

  test('the filters are the server\'s: a label or a state shows the old matching executions the newest 500 leave out, counted, and clearing them lists the newest again', async () => {
    // The three labelled "oldest" (two completed, one failed) are older than the newest 500 (see above).
    const all = ((await (await fetch(`${server.url}/v1/executions?limit=1000`)).json()) as { executions: { id: string; label: string | null; status: string }[] }).executions
    const oldest = all.filter((r) => r.label === 'oldest')
    const failed = oldest.find((r) => r.status === 'failed')!.id
    assert.equal(oldest.length, 3)
    const page = await chromium.context.newPage()
    const errors = collectErrors(page)
    await page.goto(`${server.url}/`)
    await page.locator('.live.on').waitFor()
    const count = () => page.locator('.toolbar .count').innerText()
    await until('the count', async () => /^500 of 506 \(the newest 500 are listed\)$/.test(await count()))
    for (const { id } of oldest) assert.equal(await page.locator(`tr[data-id="${id}"]`).count(), 0, 'not among the newest 500')
    // By label: all three, however old, and the count is of them.
    await page.locator('#filter-label').selectOption('oldest')
    await until('the label filter', async () => (await count()) === '3 of 506 match')
    assert.deepEqual((await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')))).sort(), oldest.map((r) => r.id).sort())
    assert.equal(new URL(page.url()).search, '?label=oldest')
    // And by state: the failed one.
    await page.locator('#filter-state').selectOption('failed')
    await until('both filters', async () => (await count()) === '1 of 506 match')
    assert.deepEqual(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id'))), [failed])
    // A new execution of the label that does not match the state is counted but not listed; one that matches both is.
    await run({ command: 'true', label: 'oldest' })
    await until('the total', async () => (await count()) === '1 of 507 match')
    await run({ command: 'exit 5', label: 'oldest' })
    await until('the new match', async () => (await count()) === '2 of 508 match')
    assert.equal(await page.locator('tbody tr').count(), 2)
    // A state alone, from the URL: every failed execution, both older than the newest 500 and new.
    await page.goto(`${server.url}/?state=failed`)
    await until('the state filter', async () => (await count()) === '2 of 508 match')
    assert.equal(await page.locator(`tr[data-id="${failed}"]`).count(), 1)
    // Cleared: the newest 500 again, none of the old ones.
    await page.locator('#filter-state').selectOption('')
    await until('the cleared filter', async () => /^500 of 508 \(the newest 500 are listed\)$/.test(await count()))
    assert.equal(await page.locator(`tr[data-id="${failed}"]`).count(), 0)
    assert.equal(await page.locator('tbody tr').count(), 500)
    assert.deepEqual(errors, [])
    await page.close()
  })
})

describe('the web console with a base64 token', () => {
  let server: RunningServer
  let chromium: LaunchedBrowser
  // `/` and `=` are not allowed in a WebSocket subprotocol; `+` is.
  const TOKEN = 'c2VjcmV0/dG9r+ZW4=='

  before(async () => {
    ;[server, chromium] = await Promise.all([startServer({ CC_EXECUTOR_AUTH_TOKEN: TOKEN }), launchChromium()])
  })
  after(async () => {
    await chromium?.close()
    await server?.stop()
  })

  test('its WebSocket authenticates: the execution view shows the output and works its controls', async () => {
    const page = await chromium.context.newPage()
    await page.goto(`${server.url}/`)
    await page.getByLabel('Token').fill(TOKEN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live.on').waitFor()
    // From here on (the first request, without the token, got its 401).
    const errors = collectErrors(page)
    const response = await post(`${server.url}/v1/executions`, { command: 'echo base64-token; sleep 600', detach: true }, { authorization: `Bearer ${TOKEN}` })
    const { execution_id: id } = (await response.json()) as { execution_id: string }
    await page.goto(`${server.url}/executions/${id}`)
    await until('the output', async () => (await terminalText(page)).includes('base64-token'))
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.locator('.exec-head .status-canceled').waitFor({ timeout: 5000 })
    assert.deepEqual(errors, [])
    await page.close()
  })
})
