import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { which as resolveProgram } from '../../adapters/node/spawn/which.ts'
import { AllowList, RpcError } from '../../src/index.ts'
import { TestClient } from '../helpers/client.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

// A directory with look-alikes: a "git" and an "echo" that are not the ones PATH finds.
const evil = mkdtempSync(join(tmpdir(), 'cc-evil-'))
writeFileSync(join(evil, 'echo'), '#!/bin/sh\necho pwned\n', { mode: 0o755 })
symlinkSync('/bin/rm', join(evil, 'ls'))
after(() => rmSync(evil, { recursive: true, force: true }))

const allow = new AllowList({
  programs: ['echo', 'ls', 'git', 'env', 'printf'],
  patterns: { git: [/^(status|log|diff)( .*)?$/] },
  resolve: resolveProgram,
})

const refusedCommands: [string, { command?: string; argv?: string[]; cwd?: string; env?: Record<string, string> }][] = [
  ['a command separator', { command: 'echo x; rm -rf ~' }],
  ['&&', { command: 'echo x && rm -rf ~' }],
  ['||', { command: 'echo x || rm -rf ~' }],
  ['a pipe', { command: 'echo x | sh' }],
  ['a background &', { command: 'echo x & rm -rf ~' }],
  ['$() substitution', { command: 'echo $(rm -rf ~)' }],
  ['backticks', { command: 'echo `rm -rf ~`' }],
  ['$() inside double quotes', { command: 'echo "$(rm -rf ~)"' }],
  ['backticks inside double quotes', { command: 'echo "`id`"' }],
  ['a variable', { command: 'echo $HOME' }],
  ['${} expansion', { command: 'echo ${IFS}rm' }],
  ['an output redirection', { command: 'echo x > /etc/passwd' }],
  ['an input redirection', { command: 'ls < /etc/shadow' }],
  ['an append redirection', { command: 'echo x >> ~/.bashrc' }],
  ['a here-string', { command: 'ls <<< x' }],
  ['a newline', { command: 'echo x\nrm -rf ~' }],
  ['a carriage return', { command: 'echo x\rrm -rf ~' }],
  ['a subshell', { command: '(rm -rf ~)' }],
  ['process substitution', { command: 'ls <(rm -rf ~)' }],
  ['a brace group', { command: '{ rm -rf ~; }' }],
  ['a glob', { command: 'ls /etc/*' }],
  ['a backslash escape', { command: 'echo \\; rm' }],
  ['a comment hiding nothing but still syntax', { command: 'echo x # comment' }],
  ['an unterminated quote', { command: "echo 'x" }],
  ['a disallowed program', { command: 'rm -rf ~' }],
  ['a disallowed program as argv', { argv: ['rm', '-rf', '/'] }],
  ['sh -c', { command: "sh -c 'rm -rf ~'" }],
  ['bash as argv', { argv: ['bash', '-c', 'id'] }],
  ['an absolute path to a disallowed program', { argv: ['/bin/rm', '-rf', '/'] }],
  ['a look-alike outside PATH with an allowed name', { argv: [join(evil, 'echo'), 'hi'] }],
  ['a relative look-alike', { argv: ['./echo', 'hi'], cwd: evil }],
  ['an allowed name linked to a disallowed program', { argv: [join(evil, 'ls')] }],
  ['env wrapping a disallowed program', { argv: ['env', 'rm', '-rf', '/'] }],
  ['env with assignments wrapping a shell', { argv: ['env', 'A=1', '-i', 'sh', '-c', 'id'] }],
  ['env -S smuggling a command line', { argv: ['env', '-S', 'sh -c id'] }],
  ['a wrapper that is not allowed', { argv: ['nohup', 'echo', 'x'] }],
  ['xargs', { command: 'xargs rm' }],
  ['arguments outside the pattern', { argv: ['git', 'push', '--force'] }],
  ['git config smuggling a command', { argv: ['git', '-c', 'core.pager=sh', 'log'] }],
  ['PATH in env', { argv: ['echo', 'x'], env: { PATH: evil } }],
  ['LD_PRELOAD in env', { argv: ['echo', 'x'], env: { LD_PRELOAD: '/tmp/evil.so' } }],
  ['BASH_ENV in env', { argv: ['echo', 'x'], env: { BASH_ENV: '/tmp/evil.sh' } }],
  ['GIT_SSH_COMMAND in env', { argv: ['git', 'status'], env: { GIT_SSH_COMMAND: 'sh -c id' } }],
  ['an empty command', { command: '   ' }],
]

describe('the allow-list', () => {
  for (const [what, request] of refusedCommands) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => allow.check(request),
        (error: unknown) => error instanceof RpcError && error.code === -32001 && error.message.startsWith('Command not allowed'),
      )
    })
  }

  test(`the table holds at least 30 bypass attempts (${refusedCommands.length})`, () => {
    assert.ok(refusedCommands.length >= 30)
  })

  test('accepts the allowed forms, and pins the program to the absolute path it judged', () => {
    const echo = resolveProgram('echo', undefined)!
    assert.deepEqual(allow.check({ command: 'echo hello world' }), [echo, 'hello', 'world'])
    assert.deepEqual(allow.check({ command: `echo 'a; b' "c | d"` }), [echo, 'a; b', 'c | d'])
    assert.deepEqual(allow.check({ argv: ['echo', '$(not expanded)', ';'] }), [echo, '$(not expanded)', ';'])
    assert.deepEqual(allow.check({ argv: [echo, 'x'] }), [echo, 'x'], 'the absolute path of the allowed program')
    assert.equal(allow.check({ argv: ['git', 'status', '--short'] })[1], 'status')
    assert.equal(allow.check({ argv: ['env', 'A=1', 'echo', 'x'] })[2], 'echo', 'an allowed wrapper around an allowed program')
    assert.deepEqual(allow.check({ argv: ['echo', 'x'], env: { MY_SETTING: '1' } }).slice(1), ['x'])
  })
})

describe('the allow-list on the real server', () => {
  let server: RunningServer
  before(async () => {
    server = await startServer({ ALLOWED_COMMANDS: 'echo,printf' })
  })
  after(async () => {
    await server.stop()
  })

  test('a refusal is -32001 with the reason, spawns nothing, and the session goes on', async () => {
    const client = await TestClient.open(server.wsUrl)
    const refused = await client.request('execute', { command: 'echo x; touch /tmp/cc-allow-list-pwned' })
    assert.equal(refused.error?.code, -32001)
    assert.match(refused.error!.message, /shell syntax/)
    assert.ok((refused.error!.data as { reason: string }).reason.length > 0)
    const ok = await client.run({ command: "printf '%s|' 'a b' c" })
    assert.equal(ok.stdout, 'a b|c|')
    const http = await fetch(`${server.url}/v1/executions`, { method: 'POST', body: JSON.stringify({ argv: ['id'] }) })
    assert.equal(http.status, 403)
    assert.equal((await http.json()).error.code, -32001)
    await client.close()
  })
})
