import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { eventually } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

const TOKEN = 'audit-token-0123456789abcdef'
const SECRET = 'hunter2-do-not-log-me'
const auth = { headers: { authorization: `Bearer ${TOKEN}` } }

let server: RunningServer
before(async () => {
  server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: TOKEN })
})
after(async () => {
  await server.stop()
})

/** Prometheus text format: `# HELP`/`# TYPE` lines and `name{labels} value` samples, nothing else. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line)
    assert.ok(match, `not a Prometheus sample line: ${line}`)
    samples.set(match[1], Number(match[2]))
  }
  return samples
}

test('a scripted run leaves audit lines without the token or secret env values, and /metrics counts it', async () => {
  const denied = await fetch(`${server.url}/v1/executions`, { headers: { authorization: 'Bearer wrong-wrong-wrong-wrong' } })
  assert.equal(denied.status, 403)
  assert.equal((await fetch(`${server.url}/metrics`)).status, 401, '/metrics needs the token too')

  const client = await TestClient.open(server.wsUrl, auth)
  const ok = await client.run({ command: 'printf 12345; printf ab >&2', cwd: '/tmp', env: { API_TOKEN: SECRET, COLOR: 'blue' } })
  const failed = await client.run({ command: 'exit 3' })
  const { execution_id: canceled } = await client.execute({ command: 'sleep 10' })
  await client.request('control', { type: 'CANCEL' })
  await client.completion(canceled)
  await client.close()

  await eventually(() => server.logs.some((l) => l.event === 'session.close'), 3000, 'the session close line')
  // An execution's end line comes once its record is stored, which may be after the session closed.
  await eventually(() => server.logs.filter((l) => l.audit === true && l.event === 'execution.end').length >= 3, 3000, 'three execution end lines')
  const audit = server.logs.filter((l) => l.audit === true)
  const starts = audit.filter((l) => l.event === 'execution.start')
  const ends = audit.filter((l) => l.event === 'execution.end')
  assert.equal(starts.length, 3)
  assert.equal(ends.length, 3)
  const start = starts.find((l) => l.execution_id === ok.id)!
  assert.match(String(start.token_id), /^tok_[0-9a-f]{8}$/)
  assert.equal(start.cwd, '/tmp')
  assert.deepEqual(start.env, { API_TOKEN: '[redacted]', COLOR: 'blue' })
  const end = ends.find((l) => l.execution_id === ok.id)!
  assert.equal(end.exit_code, 0)
  assert.equal(end.stdout_bytes, 5)
  assert.equal(end.stderr_bytes, 2)
  assert.equal(typeof end.duration_s, 'number')
  assert.ok(audit.some((l) => l.event === 'execution.control' && l.type === 'CANCEL' && l.execution_id === canceled))
  assert.ok(audit.some((l) => l.event === 'session.open'))
  assert.ok(audit.some((l) => l.event === 'auth.failure' && l.reason === 'invalid'))
  const everything = JSON.stringify(server.logs)
  assert.equal(everything.includes(TOKEN), false, 'the token never appears in a log line')
  assert.equal(everything.includes(SECRET), false, 'secret env values never appear in a log line')

  const response = await fetch(`${server.url}/metrics`, auth)
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type')!, /text\/plain/)
  const m = parseMetrics(await response.text())
  assert.equal(m.get('cc_executor_executions_total{status="completed"}'), 1)
  assert.equal(m.get('cc_executor_executions_total{status="failed"}'), 1)
  assert.equal(m.get('cc_executor_executions_total{status="canceled"}'), 1)
  assert.equal(m.get('cc_executor_output_bytes_total{stream="stdout"}'), 5)
  assert.equal(m.get('cc_executor_output_bytes_total{stream="stderr"}'), 2)
  assert.equal(m.get('cc_executor_execution_duration_seconds_count'), 3)
  assert.equal(m.get('cc_executor_running_executions'), 0)
  assert.equal(m.get('cc_executor_sessions'), 0)
  assert.equal(m.get('cc_executor_auth_failures_total{reason="invalid"}'), 1)
  assert.equal(m.get('cc_executor_auth_failures_total{reason="missing"}'), 1)
  assert.equal(m.get('cc_executor_dropped_bytes_total'), 0)
  assert.equal(failed.completed.exit_code, 3)
})
