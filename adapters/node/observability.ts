/**
 * @module adapters/node/observability — the app's observer as an audit log (pino JSON lines) and
 * Prometheus metrics (prom-client). Lines carry token ids, never tokens; env values whose names
 * look secret are redacted.
 */
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { labelOutcome, type LabelStats, type Observer } from '../../src/index.ts'

const SECRET_NAME = /token|secret|passw|key|auth|credential|cookie|session/i

export function redactEnv(env: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!env) return undefined
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, SECRET_NAME.test(name) ? '[redacted]' : value]))
}

export interface Observability {
  observer: Observer
  metrics: Registry
  /** Starts the per-label counters from the tallies of the restored records (call once, after `registry.restore()`). */
  seedLabels(labels: readonly LabelStats[]): void
}

export function observability(logger: Logger): Observability {
  const audit = logger.child({ audit: true })
  const metrics = new Registry()
  const sessions = new Gauge({ name: 'cc_executor_sessions', help: 'Open WebSocket sessions', registers: [metrics] })
  const running = new Gauge({ name: 'cc_executor_running_executions', help: 'Executions running now', registers: [metrics] })
  const executions = new Counter({
    name: 'cc_executor_executions_total',
    help: 'Finished executions by completion status',
    labelNames: ['status'] as const,
    registers: [metrics],
  })
  const bytesOut = new Counter({
    name: 'cc_executor_output_bytes_total',
    help: 'Output bytes read from children',
    labelNames: ['stream'] as const,
    registers: [metrics],
  })
  const dropped = new Counter({ name: 'cc_executor_dropped_bytes_total', help: 'Output bytes dropped by the drop policy', registers: [metrics] })
  const duration = new Histogram({
    name: 'cc_executor_execution_duration_seconds',
    help: 'Execution wall-clock time',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600],
    registers: [metrics],
  })
  const authFailures = new Counter({
    name: 'cc_executor_auth_failures_total',
    help: 'Requests refused for a missing or wrong token',
    labelNames: ['reason'] as const,
    registers: [metrics],
  })
  const refused = new Counter({
    name: 'cc_executor_refused_total',
    help: 'Executions refused before starting (allow-list, limits)',
    labelNames: ['code'] as const,
    registers: [metrics],
  })

  const labelled = new Counter({
    name: 'cc_executor_label_executions_total',
    help: 'Finished executions with a label, by label and outcome (success: completed; failure: failed, timeout, killed); restored records included',
    labelNames: ['label', 'outcome'] as const,
    registers: [metrics],
  })

  const observer: Observer = {
    sessionOpened(info) {
      sessions.inc()
      audit.info({ event: 'session.open', ...info }, 'session opened')
    },
    sessionClosed(info) {
      sessions.dec()
      audit.info({ event: 'session.close', ...info }, 'session closed')
    },
    executionStarted(record, params) {
      running.inc()
      audit.info(
        {
          event: 'execution.start',
          execution_id: record.id,
          token_id: record.token_id,
          started_by: record.started_by,
          command: record.command,
          cwd: params.cwd ?? null,
          env: redactEnv(params.env),
          pid: record.pid,
        },
        'execution started',
      )
    },
    control(info) {
      audit.info({ event: 'execution.control', ...info }, 'execution control')
    },
    executionEnded(record) {
      running.dec()
      executions.inc({ status: record.status })
      bytesOut.inc({ stream: 'stdout' }, record.stdout_bytes ?? 0)
      bytesOut.inc({ stream: 'stderr' }, record.stderr_bytes ?? 0)
      dropped.inc(record.dropped_bytes ?? 0)
      if (record.execution_time !== null) duration.observe(record.execution_time)
      const outcome = labelOutcome(record.status)
      if (record.label && outcome) labelled.inc({ label: record.label, outcome })
      audit.info(
        {
          event: 'execution.end',
          execution_id: record.id,
          token_id: record.token_id,
          command: record.command,
          status: record.status,
          exit_code: record.exit_code,
          signal: record.signal,
          stdout_bytes: record.stdout_bytes,
          stderr_bytes: record.stderr_bytes,
          dropped_bytes: record.dropped_bytes,
          duration_s: record.execution_time,
        },
        'execution ended',
      )
    },
    refused(info) {
      refused.inc({ code: String(info.code) })
      audit.warn({ event: 'execution.refused', ...info }, 'execution refused')
    },
    authFailed(info) {
      authFailures.inc({ reason: info.reason })
      audit.warn({ event: 'auth.failure', ...info }, 'authentication failed')
    },
  }
  const seedLabels = (labels: readonly LabelStats[]) => {
    for (const { label, successes, failures } of labels) {
      labelled.inc({ label, outcome: 'success' }, successes)
      labelled.inc({ label, outcome: 'failure' }, failures)
    }
  }
  return { observer, metrics, seedLabels }
}
