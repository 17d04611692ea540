/**
 * A fresh clone in a folder of its own. The committed tree (this checkout's HEAD, not uncommitted
 * edits) is cloned into a temporary directory that has no ../shared beside it, and reuses this
 * checkout's node_modules through a symlink (an `npm ci` there would fetch some 300 MB again). There:
 * - `npm install` (a dry run, offline) prints no install-scripts warning: package.json's
 *   allowScripts covers every installed package that has an install script; then `npm run
 *   prepare`, which a real install runs, bundles the web console (its generated module is not committed);
 * - the seed stress test reports itself skipped, naming where the seed goes, and neither fails nor
 *   passes;
 * - a real-server integration file (execute) and the startup errors (`npm start` on a busy port)
 *   pass, so nothing in them leans on this checkout's surroundings.
 * It does not run the whole suite in the clone: the main run does that on this checkout, and the
 * rest of the suite has no path outside the repository and no fixed port.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../helpers/server.ts'

const CLONED_TESTS = ['test/integration/seed-stress.test.ts', 'test/integration/execute.test.ts', 'test/integration/startup-errors.test.ts']

/** This process's environment without what would make a nested `node --test` report to us instead of printing TAP. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  return env
}

function git(args: string[], cwd: string): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' })
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.error?.message ?? r.stderr}`)
  return r.stdout.trim()
}

async function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = (await once(child, 'close')) as [number | null]
  clearTimeout(timer)
  return { code, output }
}

test('a clone in a folder of its own installs without warnings, skips the seed test and passes its integration tests', { timeout: 240_000 }, async (t) => {
  if (!existsSync(join(ROOT, '.git'))) {
    t.skip(`${ROOT} is not a git checkout: there is nothing to clone`)
    return
  }
  const home = mkdtempSync(join(tmpdir(), 'cc-executor-clone-'))
  try {
    const clone = join(home, 'cc-executor')
    git(['clone', '--quiet', '--no-checkout', ROOT, clone], home)
    git(['checkout', '--quiet', git(['rev-parse', 'HEAD'], ROOT)], clone)
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'))
    assert.ok(!existsSync(join(home, 'shared')), 'the clone has no ../shared')

    const install = await run('npm', ['install', '--dry-run', '--offline', '--no-audit', '--no-fund'], clone, 60_000)
    assert.equal(install.code, 0, install.output)
    assert.doesNotMatch(install.output, /install-scripts|allowScripts/, `npm install warns about install scripts:\n${install.output}`)
    // What a real install runs last (the dry run does not): `prepare` bundles the web console.
    const prepare = await run('npm', ['run', 'prepare'], clone, 60_000)
    assert.equal(prepare.code, 0, prepare.output)
    assert.ok(existsSync(join(clone, 'src', 'console', 'assets.generated.ts')), `prepare wrote the console's assets:\n${prepare.output}`)

    const tests = await run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-concurrency=1', ...CLONED_TESTS], clone, 180_000)
    const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tests.output)?.[1])
    const context = `\n--- node --test in ${clone} ---\n${tests.output}`
    assert.equal(tests.code, 0, context)
    assert.equal(count('fail'), 0, context)
    assert.equal(count('skipped'), 1, `exactly one test (the seed's) is skipped${context}`)
    assert.ok(count('pass') > 0, context)
    assert.match(tests.output, /^ok \d+ - the seed's own stress client \(004\) passes against the real server # SKIP .*\.\.\/shared\/seeds/m, context)
    assert.ok(tests.output.includes(join(home, 'shared', 'seeds')), `the skip says where to put the seed${context}`)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('the README\'s apt command names the system packages .ci/run installs', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
  const apt = /^\s*sudo apt-get install -y ([\w .+-]+)$/m.exec(readme)
  assert.ok(apt, 'the README has one `sudo apt-get install -y …` line')
  const named = apt[1].trim().split(/\s+/).sort()
  const installed = [...ci.matchAll(/missing\+=\(([\w.+-]+)\)/g)].map((m) => m[1]).sort()
  assert.ok(installed.length > 0, '.ci/run installs its packages with missing+=(…)')
  assert.deepEqual(named, installed)
})
