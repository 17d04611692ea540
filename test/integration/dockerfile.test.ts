/**
 * The Dockerfile, proven without a Docker engine: its shape is checked, then its build is replayed
 * stage by stage in fresh directories (each context COPY through .dockerignore, each COPY --from,
 * and its `npm ci` and `npm run build` RUNs), and the last stage's ENTRYPOINT + CMD is started there
 * with the Dockerfile's ENV. The web console's bundle is not in the build context (a fresh clone has
 * none): the build must make it in a stage of its own and the runtime stage must take it from
 * there. Without a token the server must refuse to start (the image listens on 0.0.0.0); with one it
 * must answer /health (given the token) and /healthz (without), serve the console page and its
 * script, pass the Dockerfile's own HEALTHCHECK, and exit 0 on SIGTERM. RUNs that set up the system (apt-get, mkdir, chown) are not
 * replayed; the test names them. The reader and the replay: test/helpers/dockerfile.ts.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { all, assertConsoleBuilt, assertProductionModules, dockerignore, envOf, execForm, healthcheckOf, readDockerfile, Replay, resolveBinary, single, type Built, type Stage } from '../helpers/dockerfile.ts'
import { freePort } from '../helpers/net.ts'
import { ROOT } from '../helpers/server.ts'

describe('Dockerfile, replayed without Docker', () => {
  let stages: Stage[]
  let final: Stage
  let replay: Replay
  /** Set by the build test. */
  let built: Built | undefined

  before(() => {
    replay = new Replay()
    stages = readDockerfile('Dockerfile')
    final = stages.at(-1)!
  })

  after(() => replay.cleanUp())

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
    const ignored = dockerignore('.dockerignore')
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
    built = await replay.build(stages, '.dockerignore', t)
    assertConsoleBuilt(built, '.dockerignore')
    assert.ok(existsSync(join(built.cwd, 'node_modules', 'tsx')), 'the runtime stage has tsx, a production dependency')
    assertProductionModules(built.cwd)
  })

  test('run: without a token the image refuses to start; with one it serves /health, /healthz and the console page, passes the HEALTHCHECK, exits 0 on SIGTERM', async (t) => {
    assert.ok(built, 'the build test did not complete, so there is nothing to run')
    const { cwd } = built
    const token = 'some-test-token-for-the-dockerfile'
    const dataDir = replay.dir('data-')
    const port = await freePort()
    const imageEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: replay.dir('home-'),
      ...envOf(final),
      PORT: String(port),
      CC_EXECUTOR_DATA_DIR: dataDir,
    }
    const env: NodeJS.ProcessEnv = { ...imageEnv, HOST: '127.0.0.1', CC_EXECUTOR_AUTH_TOKEN: token }
    let argv = resolveBinary(execForm(single(final, 'CMD').args, 'CMD'))
    const entrypoint = execForm(single(final, 'ENTRYPOINT').args, 'ENTRYPOINT')
    // tini is there on a machine that installed it (apt-get install tini); the CMD alone is the same server.
    if (existsSync(entrypoint[0])) argv = [...entrypoint, ...argv]
    else t.diagnostic(`${entrypoint[0]} is not installed here: running the CMD without its ENTRYPOINT`)
    t.diagnostic(`started: ${argv.join(' ')} (cwd ${cwd})`)

    // As the image is (HOST=0.0.0.0) and no token: exit code 2, before listening.
    const open = await replay.finish(replay.run(argv, { cwd, env: imageEnv }), 15_000, 'the server without a token')
    assert.equal(open.code, 2, `the image must refuse to start without CC_EXECUTOR_AUTH_TOKEN:\n${open.output}`)
    assert.match(open.output, /CC_EXECUTOR_AUTH_TOKEN/)

    const server = replay.run(argv, { cwd, env })
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

    const check = resolveBinary(healthcheckOf(final))
    const healthy = await replay.finish(replay.run(check, { cwd, env }), 10_000, 'HEALTHCHECK')
    assert.equal(healthy.code, 0, `HEALTHCHECK failed against a healthy server:\n${healthy.output}`)
    const nobody = await replay.finish(replay.run(check, { cwd, env: { ...env, PORT: String(await freePort()) } }), 10_000, 'HEALTHCHECK')
    assert.notEqual(nobody.code, 0, 'HEALTHCHECK must fail when nothing listens')

    server.kill('SIGTERM')
    const timer = setTimeout(() => replay.kill(server), 12_000)
    const [code, signal] = await exited
    clearTimeout(timer)
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the server's exit on SIGTERM:\n${stderr}`)
    assert.ok(logs.some((l) => l.msg === 'stopped'), 'the server logged "stopped"')
  })
})
