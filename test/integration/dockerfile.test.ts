/**
 * The Dockerfile, proven without a Docker engine: its shape is checked, then its build is replayed
 * stage by stage in fresh directories (each context COPY through .dockerignore, each COPY --from,
 * and its `npm ci` and `npm run build` RUNs), and the last stage's ENTRYPOINT + CMD is started there
 * with the Dockerfile's ENV. The web console's bundle is not in the build context (a fresh clone has
 * none): the build must make it in a stage of its own and the runtime stage must take it from
 * there. Without a token the server must refuse to start (the image listens on 0.0.0.0); with one it
 * must answer /health (given the token) and /healthz (without), serve the console page and its
 * script, pass the Dockerfile's own HEALTHCHECK, and exit 0 on SIGTERM. RUNs that set up the system
 * (apt-get, mkdir, chown) are not replayed; the test names them.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { freePort } from '../helpers/net.ts'
import { descendantsOf } from '../helpers/proc.ts'
import { ROOT } from '../helpers/server.ts'

// ---- a small Dockerfile reader: enough for this project's file, strict about anything else ----

interface Instruction {
  op: string
  /** --name=value options (COPY --from, RUN --mount, HEALTHCHECK --interval …). */
  flags: Record<string, string>
  args: string
  line: number
}

interface Stage {
  name: string | undefined
  instructions: Instruction[]
}

function parseDockerfile(text: string): Stage[] {
  const logical: { text: string; line: number }[] = []
  let current = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '')
    if (/^\s*#/.test(line) || (current === '' && line.trim() === '')) return // comments and blank lines
    if (current === '') start = i + 1
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, '') + ' '
      return
    }
    logical.push({ text: (current + line).trim(), line: start })
    current = ''
  })
  assert.equal(current, '', 'Dockerfile ends inside a line continuation')

  const stages: Stage[] = []
  for (const { text: entry, line } of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(entry)
    assert.ok(m, `Dockerfile line ${line}: cannot read "${entry}"`)
    const op = m[1].toUpperCase()
    let args = m[2].trim()
    const flags: Record<string, string> = {}
    for (let f = /^--([\w-]+)=(\S+)\s+/.exec(args); f; f = /^--([\w-]+)=(\S+)\s+/.exec(args)) {
      flags[f[1]] = f[2]
      args = args.slice(f[0].length)
    }
    if (op === 'FROM') {
      stages.push({ name: /\s+AS\s+(\S+)\s*$/i.exec(args)?.[1], instructions: [] })
      continue
    }
    if (stages.length === 0) {
      assert.equal(op, 'ARG', `Dockerfile line ${line}: only ARG may come before the first FROM`)
      continue
    }
    stages.at(-1)!.instructions.push({ op, flags, args, line })
  }
  assert.ok(stages.length > 0, 'Dockerfile has no FROM')
  return stages
}

const all = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op)

function single(stage: Stage, op: string): Instruction {
  const found = all(stage, op)
  assert.equal(found.length, 1, `the Dockerfile's last stage must have exactly one ${op} (found ${found.length})`)
  return found[0]
}

/** The command of `HEALTHCHECK [options] CMD [...]`, in exec form. */
function healthcheckOf(stage: Stage): string[] {
  const cmd = /^CMD\s+(.*)$/s.exec(single(stage, 'HEALTHCHECK').args)
  assert.ok(cmd, 'HEALTHCHECK must run a CMD')
  return execForm(cmd[1], 'HEALTHCHECK CMD')
}

/** The exec (JSON) form of CMD / ENTRYPOINT / HEALTHCHECK CMD: Docker silently falls back to a shell when the JSON is invalid. */
function execForm(args: string, what: string): string[] {
  let argv: unknown
  try {
    argv = JSON.parse(args)
  } catch {
    assert.fail(`${what} must be in JSON (exec) form, got: ${args}`)
  }
  assert.ok(Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string'), `${what} must be a JSON array of strings`)
  return argv as string[]
}

/** ENV key=value … (quotes allowed, no variable references), in the order given. */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const { args, line } of all(stage, 'ENV')) {
    const pairs = [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)(?:\s+|$)/g)]
    assert.equal(pairs.map((p) => p[0]).join(''), args, `Dockerfile line ${line}: ENV must be key=value pairs`)
    for (const [, key, raw] of pairs) {
      const value = /^["']/.test(raw) ? raw.slice(1, -1) : raw
      assert.ok(!value.includes('$'), `Dockerfile line ${line}: ENV ${key} refers to a variable; the test does not expand them`)
      env[key] = value
    }
  }
  return env
}

// ---- .dockerignore, as Docker applies it: globs on slash paths, a path goes when it or a parent matches, last rule wins ----

function globToRegExp(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*' && pattern[i + 1] === '*') {
      i++
      if (pattern[i + 1] === '/') {
        i++
        re += '(?:.*/)?'
      } else re += '.*'
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!')
      const pattern = posix.normalize(include ? l.slice(1).trim() : l).replace(/^\/+|\/+$/g, '')
      return { include, re: globToRegExp(pattern) }
    })
  return (path) => {
    const parts = path.split('/')
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let excluded = false
    for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) excluded = !rule.include
    return excluded
  }
}

/** Files (relative slash paths) under `source` in the build context, after .dockerignore. */
function contextFiles(source: string, ignored: (path: string) => boolean): string[] {
  const abs = join(ROOT, source)
  if (!existsSync(abs)) return []
  if (!lstatSync(abs).isDirectory()) return ignored(source) ? [] : [source]
  return readdirSync(abs).flatMap((name) => contextFiles(posix.join(source, name), ignored))
}

// ---- processes: every one started here is its own process group, killed in after() ----
// `npm test` gives each test file 60 s in all (--test-timeout applies per file), so the waits below
// stay well inside that; if the runner still ends this file with SIGTERM, the groups go with it.

const started = new Set<ChildProcess>()
/** The fresh directories of this run (stages, data, home), under the system temp dir. */
let scratch: string | undefined
const cleanUp = () => {
  for (const child of started) killGroup(child)
  if (scratch) rmSync(scratch, { recursive: true, force: true })
}
const onSigterm = () => {
  cleanUp()
  process.exit(143)
}

function run(argv: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess {
  const child = spawn(argv[0], argv.slice(1), { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  started.add(child)
  child.once('exit', () => started.delete(child))
  return child
}

async function finish(child: ChildProcess, timeoutMs: number, what: string): Promise<{ code: number | null; signal: string | null; output: string }> {
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const timer = setTimeout(() => killGroup(child), timeoutMs)
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null]
  clearTimeout(timer)
  assert.ok(signal === null, `${what} was killed (${signal}) after ${timeoutMs} ms:\n${output}`)
  return { code, signal, output }
}

/** Kills a child's process group and every process under it: tini puts its child in a group of its own. */
function killGroup(child: ChildProcess): void {
  child.stdout?.destroy()
  child.stderr?.destroy()
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL')
      } catch {}
    }
  }
}

/** `node` in an exec form runs this test's own node: the same one that `npm test` checks against. */
const resolveNode = (argv: string[]) => (argv[0] === 'node' ? [process.execPath, ...argv.slice(1)] : argv)

// ---- the test ----

/** The web console's bundle: generated by `npm run build`, not committed. */
const BUNDLE = 'src/console/assets.generated.ts'

describe('Dockerfile, replayed without Docker', () => {
  let stages: Stage[]
  let final: Stage
  let work: string
  /** Set by the build test: the directory standing for the last stage's filesystem, and its WORKDIR. */
  let built: { root: string; workdir: string } | undefined

  before(() => {
    process.once('SIGTERM', onSigterm)
    stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
    final = stages.at(-1)!
    // Under the system temp dir, away from the repo, so that nothing resolves from the repo's node_modules.
    work = scratch = mkdtempSync(join(tmpdir(), 'cc-executor-dockerfile-'))
  })

  after(() => {
    process.off('SIGTERM', onSigterm)
    cleanUp()
  })

  test('its shape: non-root USER, tini ENTRYPOINT, JSON CMD and HEALTHCHECK, HOST/PORT, a VOLUME, no baked token', () => {
    assert.ok(stages.length >= 2, 'expected a multi-stage build (deps, then runtime)')
    const one = (op: string) => single(final, op)
    assert.deepEqual(execForm(one('ENTRYPOINT').args, 'ENTRYPOINT'), ['/usr/bin/tini', '--'])
    const cmd = execForm(one('CMD').args, 'CMD')
    assert.ok(!['npm', 'npx', 'sh', 'bash', '/bin/sh'].includes(cmd[0]), `CMD should start the server directly so signals reach it, not through ${cmd[0]}`)
    const user = one('USER').args.split(':')[0]
    assert.ok(!['root', '0'].includes(user), `USER must not be root, got ${user}`)
    const env = envOf(final)
    assert.equal(env.HOST, '0.0.0.0')
    assert.equal(env.PORT, '8003')
    assert.ok(one('EXPOSE').args.split(/\s+/).includes('8003'), 'EXPOSE 8003')
    const volume = one('VOLUME').args
    assert.ok(env.CC_EXECUTOR_DATA_DIR && volume.includes(env.CC_EXECUTOR_DATA_DIR), `the data dir ${env.CC_EXECUTOR_DATA_DIR} must be the VOLUME (${volume})`)
    healthcheckOf(final)
    for (const stage of stages)
      for (const i of [...all(stage, 'ENV'), ...all(stage, 'ARG')]) {
        assert.ok(!/TOKEN|SECRET|API_KEY/i.test(i.args), `Dockerfile line ${i.line}: no token or key may be baked into the image (${i.args})`)
        assert.ok(!/INSECURE/i.test(i.args), `Dockerfile line ${i.line}: the image must not turn off the token requirement (${i.args})`)
      }
    assert.ok(!cmd.includes('--insecure'), 'CMD must not pass --insecure')
  })

  test('.dockerignore keeps node_modules, data, .git, .env and logs out of the build context', () => {
    const ignored = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'))
    for (const path of ['node_modules/hono/package.json', 'data/x.json', '.git/HEAD', '.env', 'src/node_modules/a.js', 'src/x.log', 'test/integration/execute.test.ts'])
      assert.ok(ignored(path), `${path} must be excluded`)
    for (const path of ['package.json', 'package-lock.json', 'src/app.ts', 'adapters/node/main.ts']) assert.ok(!ignored(path), `${path} must be included`)
  })

  test('compose.yaml requires a token from the environment and publishes on loopback only', () => {
    const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8')
    assert.match(compose, /^\s+CC_EXECUTOR_AUTH_TOKEN:\s*\$\{CC_EXECUTOR_AUTH_TOKEN:\?/m)
    assert.match(compose, /^\s+- "127\.0\.0\.1:8003:8003"/m)
    assert.doesNotMatch(compose, /^[^#]*(INSECURE|--insecure)/im, 'compose.yaml must not turn off the token requirement')
  })

  test('build: every stage in a fresh directory, context COPYs through .dockerignore, npm ci, the console bundled in its own stage', async (t) => {
    const ignored = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'))
    const roots = new Map<string, string>()
    const npmCi: { stage: string; omitDev: boolean }[] = []
    let bundleStage: string | undefined
    for (const [index, stage] of stages.entries()) {
      const root = join(work, `stage-${index}`)
      mkdirSync(root)
      roots.set(String(index), root)
      if (stage.name) roots.set(stage.name, root)
      let workdir = '/'
      for (const instruction of stage.instructions) {
        const { op, flags, args, line } = instruction
        const at = `Dockerfile line ${line}: ${op} ${args}`
        if (op === 'WORKDIR') {
          workdir = posix.resolve(workdir, args)
          mkdirSync(join(root, workdir), { recursive: true })
        } else if (op === 'COPY' || op === 'ADD') {
          assert.equal(op, 'COPY', `${at}: use COPY`)
          assert.ok(!args.startsWith('['), `${at}: write COPY in its plain form`)
          const words = args.split(/\s+/)
          const dest = posix.resolve(workdir, words.at(-1)!)
          const sources = words.slice(0, -1)
          const destIsDir = words.at(-1)!.endsWith('/') || sources.length > 1
          for (const source of sources) {
            assert.ok(!/[*?[]/.test(source), `${at}: the test does not expand wildcards in COPY sources`)
            if (flags.from !== undefined) {
              const fromRoot = roots.get(flags.from)
              assert.ok(fromRoot, `${at}: unknown stage ${flags.from}`)
              const abs = join(fromRoot, posix.resolve('/', source))
              assert.ok(existsSync(abs), `${at}: ${source} does not exist in stage ${flags.from}`)
              // A directory's contents go into dest; a file goes into dest/ or onto dest.
              const target = lstatSync(abs).isDirectory() || !destIsDir ? dest : posix.join(dest, posix.basename(source))
              mkdirSync(join(root, posix.dirname(target)), { recursive: true })
              cpSync(abs, join(root, target), { recursive: true, verbatimSymlinks: true })
              continue
            }
            const clean = posix.normalize(source).replace(/^\.\/|\/$/g, '')
            const inContext = contextFiles(clean, ignored)
            assert.ok(inContext.length > 0, `${at}: ${source} is not in the build context (missing, or excluded by .dockerignore)`)
            const isDir = lstatSync(join(ROOT, clean)).isDirectory()
            for (const file of inContext) {
              const target = isDir ? posix.join(dest, posix.relative(clean, file)) : destIsDir ? posix.join(dest, posix.basename(file)) : dest
              mkdirSync(join(root, posix.dirname(target)), { recursive: true })
              copyFileSync(join(ROOT, file), join(root, target))
            }
          }
        } else if (op === 'RUN') {
          const step = args.split(/&&|;|\|\|/).find((s) => /^\s*npm\s+(ci|run\s+build)\b/.test(s))
          if (step === undefined) {
            t.diagnostic(`not replayed (system setup): line ${line}: RUN ${args.replace(/\s+/g, ' ').slice(0, 100)}`)
            continue
          }
          const argv = step.trim().split(/\s+/)
          const cwd = join(root, workdir)
          const ci = argv[1] === 'ci'
          if (!ci) assert.ok(!existsSync(join(cwd, BUNDLE)), `${at}: the bundle is there before the build`)
          const began = Date.now()
          const npm = run(ci ? [...argv, '--prefer-offline', '--no-audit', '--no-fund'] : argv, { cwd, env: process.env })
          // A full npm ci (every dev dependency) takes ~15 s from npm's cache on an idle machine.
          const { code, output } = await finish(npm, 120_000, argv.join(' '))
          assert.equal(code, 0, `${at} failed:\n${output}`)
          t.diagnostic(`${argv.join(' ')} in stage ${stage.name ?? index}: ${Date.now() - began} ms`)
          if (ci) npmCi.push({ stage: stage.name ?? String(index), omitDev: argv.includes('--omit=dev') })
          else {
            assert.ok(existsSync(join(cwd, BUNDLE)), `${at} did not write ${BUNDLE}`)
            bundleStage = join(cwd, BUNDLE)
          }
        }
      }
      if (stage === final) built = { root, workdir }
    }
    assert.equal(npmCi.filter((n) => n.omitDev).length, 1, 'expected one RUN npm ci --omit=dev (the runtime\'s node_modules)')
    assert.equal(npmCi.length, 2, 'expected one more npm ci, with the dev dependencies, for the console\'s bundle')
    // The bundle comes from the build, not from the checkout: the context never carries one.
    assert.ok(ignored(BUNDLE), `.dockerignore must keep a checkout's ${BUNDLE} out of the context`)
    assert.ok(bundleStage, 'no stage ran npm run build')
    const served = join(built!.root, built!.workdir, BUNDLE)
    assert.ok(existsSync(served), `the runtime stage has no ${BUNDLE}`)
    assert.ok(readFileSync(served).equals(readFileSync(bundleStage)), `the runtime's ${BUNDLE} is the one the build stage made`)
    const modules = join(built!.root, built!.workdir, 'node_modules')
    assert.ok(existsSync(join(modules, 'tsx')), 'the runtime stage has tsx, a production dependency')
    // (typescript may be there: valibot's optional peer, kept because the root also has it as a dev dependency)
    for (const dev of ['wrangler', 'bun', 'deno', '@types/node', '@types/ws']) assert.ok(!existsSync(join(modules, dev)), `the runtime stage must not have the dev dependency ${dev}`)
  })

  test('run: without a token the image refuses to start; with one it serves /health, /healthz and the console page, passes the HEALTHCHECK, exits 0 on SIGTERM', async (t) => {
    assert.ok(built, 'the build test did not complete, so there is nothing to run')
    const cwd = join(built.root, built.workdir)
    const token = 'some-test-token-for-the-dockerfile'
    const dataDir = mkdtempSync(join(work, 'data-'))
    const port = await freePort()
    const imageEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: mkdtempSync(join(work, 'home-')),
      ...envOf(final),
      PORT: String(port),
      CC_EXECUTOR_DATA_DIR: dataDir,
    }
    const env: NodeJS.ProcessEnv = { ...imageEnv, HOST: '127.0.0.1', CC_EXECUTOR_AUTH_TOKEN: token }
    let argv = resolveNode(execForm(single(final, 'CMD').args, 'CMD'))
    const entrypoint = execForm(single(final, 'ENTRYPOINT').args, 'ENTRYPOINT')
    // tini is there on a machine that installed it (apt-get install tini); the CMD alone is the same server.
    if (existsSync(entrypoint[0])) argv = [...entrypoint, ...argv]
    else t.diagnostic(`${entrypoint[0]} is not installed here: running the CMD without its ENTRYPOINT`)
    t.diagnostic(`started: ${argv.join(' ')} (cwd ${cwd})`)

    // As the image is (HOST=0.0.0.0) and no token: exit code 2, before listening.
    const open = await finish(run(argv, { cwd, env: imageEnv }), 15_000, 'the server without a token')
    assert.equal(open.code, 2, `the image must refuse to start without CC_EXECUTOR_AUTH_TOKEN:\n${open.output}`)
    assert.match(open.output, /CC_EXECUTOR_AUTH_TOKEN/)

    const server = run(argv, { cwd, env })
    let stderr = ''
    server.stderr!.on('data', (d) => (stderr += d))
    const logs: Record<string, unknown>[] = []
    // 'close': the process has exited and its last log lines have been read.
    const exited = once(server, 'close') as Promise<[number | null, string | null]>
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not log "listening" within 15 s:\n${stderr}`)), 15_000)
      void exited.then(([code]) => reject(new Error(`server exited with ${code} before listening:\n${stderr}`)))
      createInterface({ input: server.stdout! }).on('line', (line) => {
        try {
          logs.push(JSON.parse(line))
        } catch {
          return
        }
        if (logs.at(-1)!.msg === 'listening') {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    assert.equal(logs.find((l) => l.msg === 'listening')!.port, port)

    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 401, '/health needs the token')
    const health = await fetch(`http://127.0.0.1:${port}/health`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(health.status, 200)
    const body = (await health.json()) as { status: string; runtime: string }
    assert.equal(body.status, 'healthy')
    assert.equal(body.runtime, 'node')
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`) // no token: the HEALTHCHECK has none
    assert.equal(healthz.status, 200)
    assert.deepEqual(await healthz.json(), { status: 'ok' })
    // The console, from the bundle the build stage made (the page and its assets need no token).
    const page = await fetch(`http://127.0.0.1:${port}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    const script = /src="\/console\/assets\/(console\.[0-9a-f]{12}\.js)"/.exec(await page.text())
    assert.ok(script, 'the page names its script')
    const asset = await fetch(`http://127.0.0.1:${port}/console/assets/${script[1]}`)
    assert.equal(asset.status, 200)
    assert.match(asset.headers.get('content-type') ?? '', /javascript/)
    assert.ok((await asset.arrayBuffer()).byteLength > 100_000, 'the script is the bundle, xterm included')

    const check = resolveNode(healthcheckOf(final))
    const healthy = await finish(run(check, { cwd, env }), 10_000, 'HEALTHCHECK')
    assert.equal(healthy.code, 0, `HEALTHCHECK failed against a healthy server:\n${healthy.output}`)
    const nobody = await finish(run(check, { cwd, env: { ...env, PORT: String(await freePort()) } }), 10_000, 'HEALTHCHECK')
    assert.notEqual(nobody.code, 0, 'HEALTHCHECK must fail when nothing listens')

    server.kill('SIGTERM')
    const timer = setTimeout(() => killGroup(server), 12_000)
    const [code, signal] = await exited
    clearTimeout(timer)
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the server's exit on SIGTERM:\n${stderr}`)
    assert.ok(logs.some((l) => l.msg === 'stopped'), 'the server logged "stopped"')
  })
})
