import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError, loadConfig } from '../../adapters/node/settings.ts'

describe('configuration from env and flags', () => {
  test('defaults match the protocol', () => {
    const c = loadConfig({}, [])
    assert.equal(c.PORT, 8003)
    assert.equal(c.HOST, '127.0.0.1')
    assert.equal(c.MAX_SESSIONS, 100)
    assert.equal(c.WS_MAX_SIZE, 10 * 1024 * 1024)
    assert.equal(c.WEBSOCKET_HEARTBEAT_INTERVAL, 20)
    assert.equal(c.ACTIVITY_TIMEOUT, 30)
    assert.equal(c.KILL_GRACE_MS, 2000)
    assert.equal(c.MAX_BUFFER_SIZE, 8 * 1024 * 1024)
    assert.equal(c.CC_EXECUTOR_SHELL, 'bash')
  })

  test('env vars are read and a flag overrides its env var', () => {
    const c = loadConfig({ PORT: '9000', MAX_SESSIONS: '7' }, ['--max-sessions', '9', '--kill-grace-ms=10'])
    assert.equal(c.PORT, 9000)
    assert.equal(c.MAX_SESSIONS, 9)
    assert.equal(c.KILL_GRACE_MS, 10)
  })

  test('a bad value names its setting', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }, []), (e: Error) => e instanceof ConfigError && /PORT/.test(e.message))
    assert.throws(() => loadConfig({ MAX_SESSIONS: '0' }, []), /MAX_SESSIONS/)
    assert.throws(() => loadConfig({}, ['--heartbeat', '5']), ConfigError)
    assert.throws(() => loadConfig({ CHILD_SCHED_POLICY: 'fifo' }, []), /CHILD_SCHED_POLICY/)
  })
})
