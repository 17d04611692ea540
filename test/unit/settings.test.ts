import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError, flagOf, loadConfig } from '../../adapters/node/settings.ts'
import { gatewayLimits, gatewayListen } from '../../src/gateway/config.ts'
import { SHARED_SETTINGS } from '../../src/settings.ts'

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

describe('the settings the Node server and the gateways both read', () => {
  const gatewayReads: Record<keyof typeof SHARED_SETTINGS, (value: string) => unknown> = {
    PORT: (value) => gatewayListen((name) => (name === 'PORT' ? value : undefined)).port,
    MAX_SESSIONS: (value) => gatewayLimits((name) => (name === 'MAX_SESSIONS' ? value : undefined)).maxSessions,
    MAX_STREAMS: (value) => gatewayLimits((name) => (name === 'MAX_STREAMS' ? value : undefined)).maxStreams,
    WEBSOCKET_HEARTBEAT_INTERVAL: (value) => gatewayLimits((name) => (name === 'WEBSOCKET_HEARTBEAT_INTERVAL' ? value : undefined)).heartbeatInterval,
  }
  const outcome = (read: () => unknown): { value: unknown } | { error: string } => {
    try {
      return { value: read() }
    } catch (error) {
      return { error: (error as Error).message }
    }
  }
  // Text without blanks around it: a gateway trims its limits' text and reads a blank one as unset; the Node server does neither.
  const values = ['0', '-0', '1', '007', '-1', '2.5', '.5', '5.', '0x10', '1e3', '1e400', '+1', 'abc', '0.001', '0.01', '65535', '65536', '2147483', '2147484', '9007199254740991', '9007199254740992']

  test('the same text gives the same value, or the same message less the flag, from both', () => {
    assert.deepEqual(Object.keys(gatewayReads).sort(), Object.keys(SHARED_SETTINGS).sort())
    for (const [name, gatewayRead] of Object.entries(gatewayReads)) {
      for (const value of values) {
        const node = outcome(() => loadConfig({ [name]: value }, [])[name as keyof typeof SHARED_SETTINGS])
        const gateway = outcome(() => gatewayRead(value))
        const expected = 'error' in node ? { error: node.error.replace(` (--${flagOf(name)})`, '') } : node
        assert.deepEqual(gateway, expected, `${name}=${JSON.stringify(value)}`)
      }
    }
  })

  test('a bad one is refused in the same words by both', () => {
    assert.throws(() => loadConfig({ MAX_STREAMS: '0x10' }, []), { message: 'invalid MAX_STREAMS (--max-streams): expected a whole number (got "0x10")' })
    assert.throws(() => gatewayLimits((name) => (name === 'MAX_STREAMS' ? '0x10' : undefined)), { message: 'invalid MAX_STREAMS: expected a whole number (got "0x10")' })
    assert.throws(() => loadConfig({ PORT: '70000' }, []), { message: 'invalid PORT (--port): expected at most 65535 (got "70000")' })
    assert.throws(() => gatewayListen((name) => (name === 'PORT' ? '70000' : undefined)), { message: 'invalid PORT: expected at most 65535 (got "70000")' })
  })
})
