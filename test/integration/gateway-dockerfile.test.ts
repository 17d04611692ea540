/**
 * deploy/gateway.Dockerfile, proven without a Docker engine (as test/integration/dockerfile.test.ts
 * proves the executor's): its shape is checked, its build replayed stage by stage through its own
 * ignore file, and its CMD started in the replayed /app with the image's ENV and the settings the
 * Kubernetes Deployment (deploy/k8s/gateway.yaml) gives it, against a real executor with a token.
 * It must serve /healthz, pass its HEALTHCHECK, and forward an execution to the executor. Then the
 * manifests' probes, both the gateway's and the executor's (whose liveness is a command reading
 * the token from the env), are run against the two as the kubelet would run them.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { all, assertConsoleBuilt, assertProductionModules, dockerignore, envOf, execForm, healthcheckOf, readDockerfile, Replay, resolveBinary, single, type Built, type Stage } from '../helpers/dockerfile.ts'
import { readNdjson, post } from '../helpers/http.ts'
import { containerOf, loadKustomization, only, plainEnv, portOf, type Container, type Probe } from '../helpers/k8s.ts'
import { freePort } from '../helpers/net.ts'
import { ROOT, startServer, type RunningServer } from '../helpers/server.ts'

const DOCKERFILE = 'deploy/gateway.Dockerfile'
const IGNORE = `${DOCKERFILE}.dockerignore`
const token = 'some-test-token-for-the-gateway-image'

describe('deploy/gateway.Dockerfile, replayed without Docker', () => {
  let stages: Stage[]
  let final: Stage
  let replay: Replay
  let built: Built | undefined
  let executorServer: RunningServer | undefined
  /** Set by the run test: the gateway, on a free port. */
  let gateway: { child: ChildProcess; port: number } | undefined
  const { manifests } = loadKustomization()
  const gatewayContainer = containerOf(only(manifests, 'Deployment'))
  const executorContainer = containerOf(only(manifests, 'StatefulSet'))

  before(() => {
    replay = new Replay()
    stages = readDockerfile(DOCKERFILE)
    final = stages.at(-1)!
  })

  after(async () => {
    await executorServer?.stop()
    replay.cleanUp()
  })

  test('its shape: the Deno image of package.json, tini, a JSON CMD running the Deno gateway, non-root, no baked token', () => {
    assert.ok(stages.length >= 2, 'expected a multi-stage build (deps, then runtime)')
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
    assert.equal(final.from, `denoland/deno:${pkg.devDependencies.deno}`, 'the Deno the tests run')
    assert.deepEqual(execForm(single(final, 'ENTRYPOINT').args, 'ENTRYPOINT'), ['/tini', '--'])
    const cmd = execForm(single(final, 'CMD').args, 'CMD')
    assert.deepEqual(cmd.slice(0, 2), ['deno', 'run'], 'CMD starts the gateway directly, so that signals reach it')
    assert.equal(cmd.at(-1), 'adapters/deno/main.ts')
    for (const flag of ['--cached-only', '--no-remote']) assert.ok(cmd.includes(flag), `CMD fetches nothing at run time (${flag})`)
    const user = single(final, 'USER').args.split(':')[0]
    assert.ok(!['root', '0'].includes(user), `USER must not be root, got ${user}`)
    const env = envOf(final)
    assert.equal(env.HOST, '0.0.0.0')
    assert.ok(single(final, 'EXPOSE').args.split(/\s+/).includes(env.PORT), `EXPOSE ${env.PORT}`)
    healthcheckOf(final)
    for (const stage of stages)
      for (const i of [...all(stage, 'ENV'), ...all(stage, 'ARG')])
        assert.ok(!/TOKEN|SECRET|API_KEY/i.test(i.args), `${DOCKERFILE} line ${i.line}: no token may be baked into the image (${i.args})`)
  })

  test('its ignore file sends only what the image takes: no node_modules, .git, .env, executor or tests', () => {
    const ignored = dockerignore(IGNORE)
    for (const path of ['node_modules/hono/package.json', '.git/HEAD', '.env', 'deploy/k8s/token.env', 'adapters/node/main.ts', 'test/unit/config.test.ts', 'data/x.json'])
      assert.ok(ignored(path), `${path} must be excluded`)
    for (const path of ['package.json', 'package-lock.json', 'src/app.ts', 'adapters/deno/main.ts']) assert.ok(!ignored(path), `${path} must be included`)
  })

  test('build: every stage in a fresh directory, context COPYs through its ignore file, npm ci, the console bundled in its own stage', async (t) => {
    built = await replay.build(stages, IGNORE, t)
    assertConsoleBuilt(built, IGNORE)
    assertProductionModules(built.cwd)
    assert.ok(!existsSync(join(built.cwd, 'adapters', 'node')), 'the gateway image holds no executor')
  })

  test('run: the CMD, with the Deployment\'s settings, serves /healthz, passes the HEALTHCHECK and forwards to the executor', async (t) => {
    assert.ok(built, 'the build test did not complete, so there is nothing to run')
    executorServer = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token })
    const port = await freePort()
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: replay.dir('home-'),
      DENO_DIR: replay.dir('deno-dir-'),
      ...envOf(final),
      ...plainEnv(gatewayContainer),
      // Here, not in a cluster: loopback, a free port, the one executor started above.
      HOST: '127.0.0.1',
      PORT: String(port),
      EXECUTOR_URLS: executorServer.url,
      EXECUTOR_TOKEN: token,
    }
    const argv = resolveBinary(execForm(single(final, 'CMD').args, 'CMD'))
    // /tini is the base image's; the CMD alone is the same gateway.
    t.diagnostic(`started: ${argv.join(' ')} (cwd ${built.cwd})`)
    const child = replay.run(argv, { cwd: built.cwd, env })
    let output = ''
    child.stderr!.on('data', (d) => (output += d))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway did not say it listens within 30 s:\n${output}`)), 30_000)
      void once(child, 'exit').then(([code]) => reject(new Error(`the gateway exited with ${code} before listening:\n${output}`)))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        output += `${line}\n`
        if (line.includes(`listening on http://127.0.0.1:${port}/`)) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    gateway = { child, port }

    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`)
    assert.equal(healthz.status, 200)
    assert.deepEqual(await healthz.json(), { status: 'ok' })
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { runtime: string }
    assert.equal(health.runtime, 'deno')

    const check = resolveBinary(healthcheckOf(final))
    const healthy = await replay.finish(replay.run(check, { cwd: built.cwd, env }), 20_000, 'HEALTHCHECK')
    assert.equal(healthy.code, 0, `HEALTHCHECK failed against a healthy gateway:\n${healthy.output}`)
    const nobody = await replay.finish(replay.run(check, { cwd: built.cwd, env: { ...env, PORT: String(await freePort()) } }), 20_000, 'HEALTHCHECK')
    assert.notEqual(nobody.code, 0, 'HEALTHCHECK must fail when nothing listens')

    // An execution through the gateway runs on the executor, which has its record.
    const response = await post(`http://127.0.0.1:${port}/v1/executions`, { command: 'echo forwarded-by-the-gateway-image' })
    assert.equal(response.status, 200)
    const events = await readNdjson(response)
    const text = events.filter((e) => e.method === 'process.output').map((e) => e.params.data).join('')
    assert.match(text, /forwarded-by-the-gateway-image/)
    const completed = events.find((e) => e.method === 'process.completed')
    assert.equal(completed?.params.exit_code, 0)
    const id = completed!.params.execution_id as string
    const record = await fetch(`${executorServer.url}/v1/executions/${id}`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(record.status, 200, 'the executor ran it')
  })

  test('the manifests\' probes pass against the gateway and the executor, and the executor\'s liveness fails with a wrong token', async () => {
    assert.ok(gateway && executorServer && built, 'the run test did not complete')
    const executorEnv = { ...plainEnv(executorContainer), PORT: String(executorServer.port), CC_EXECUTOR_AUTH_TOKEN: token }
    const probe = async (container: Container, spec: Probe | undefined, port: number, env: NodeJS.ProcessEnv): Promise<boolean> => {
      assert.ok(spec, `${container.name}: a probe`)
      if (spec.httpGet) {
        assert.equal(portOf(container, spec.httpGet.port), Number(plainEnv(container).PORT))
        const headers = Object.fromEntries((spec.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]))
        return (await fetch(`http://127.0.0.1:${port}${spec.httpGet.path}`, { headers })).ok
      }
      assert.ok(spec.exec, `${container.name}: an httpGet or exec probe`)
      // In the executor's container (the repo stands for its /app), with the container's env.
      const run = replay.run(resolveBinary(spec.exec.command), { cwd: ROOT, env: { PATH: process.env.PATH, ...env } })
      return (await replay.finish(run, (spec.timeoutSeconds ?? 1) * 1000 + 5000, `${container.name} probe`)).code === 0
    }
    for (const kind of ['readinessProbe', 'livenessProbe'] as const) {
      assert.ok(await probe(gatewayContainer, gatewayContainer[kind], gateway.port, {}), `gateway ${kind}`)
      assert.ok(await probe(executorContainer, executorContainer[kind], executorServer.port, executorEnv), `executor ${kind}`)
    }
    const wrong = { ...executorEnv, CC_EXECUTOR_AUTH_TOKEN: 'not-the-token-of-this-executor' }
    assert.equal(await probe(executorContainer, executorContainer.livenessProbe, executorServer.port, wrong), false, 'liveness checks the token')
    await executorServer.stop()
    assert.equal(await probe(executorContainer, executorContainer.livenessProbe, executorServer.port, executorEnv), false, 'liveness fails when the server is gone')
  })
})
