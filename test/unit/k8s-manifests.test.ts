/**
 * deploy/k8s, read as Kubernetes and kustomize would read it (no cluster here): the executors as a
 * StatefulSet behind a headless Service, a gateway Deployment naming every executor pod, the token
 * from a generated Secret, probes, a non-root restricted securityContext, resources, a
 * terminationGracePeriodSeconds above the server's and the gateway's own shutdown deadlines, one volume per pod at the
 * server's data dir, the network policies, and a kustomization that lists exactly the files there.
 * The values are checked against the code and the images where they come from (the server's
 * config schema and shutdown deadline, each Dockerfile's USER, ENV and EXPOSE), not against copies.
 * test/integration/gateway-dockerfile.test.ts runs the probes against a live executor and gateway.
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { loadConfig, type Config } from '../../adapters/node/settings.ts'
import { shutdownDeadlineMs } from '../../adapters/node/server-process.ts'
import { envOf, readDockerfile, single, userOf, type Stage } from '../helpers/dockerfile.ts'
import { containerOf, envVar, K8S_DIR, loadKustomization, only, plainEnv, portOf, type Container, type Kustomization, type Manifest, type PodSpec, type Resource } from '../helpers/k8s.ts'
import { ROOT } from '../helpers/server.ts'
import { clientTokens, SHUTDOWN_DEADLINE_MS } from '../../src/index.ts'

/** A Kubernetes quantity ("500m", "2", "512Mi", "10Gi", "1G") as a number of units (cores, bytes). */
function quantity(text: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(text))
  assert.ok(m, `not a quantity: ${text}`)
  const scale: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1)
}

/** `selector` picks `labels`: every key of the one is in the other with the same value. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined, what: string): void {
  assert.ok(selector && Object.keys(selector).length > 0, `${what}: an empty selector picks everything`)
  for (const [key, value] of Object.entries(selector)) assert.equal(labels?.[key], value, `${what}: label ${key}=${value}`)
}

const podSpec = (workload: Resource): PodSpec => workload.spec.template.spec
const podLabels = (workload: Resource): Record<string, string> => workload.spec.template.metadata.labels

/** Which image each workload runs, so that its settings can be checked against that image's Dockerfile. */
const DOCKERFILES: Record<string, string> = { 'cc-executor': 'Dockerfile', 'cc-executor-gateway': 'deploy/gateway.Dockerfile' }

describe('deploy/k8s', () => {
  let kustomization: Kustomization
  let manifests: Manifest[]
  let executors: Resource
  let headless: Resource
  let gateway: Resource
  let executor: Container
  let gatewayContainer: Container
  /** The executor's settings as the server reads them from the container's env (the token stands in for the Secret's). */
  let config: Config
  const images: Record<string, Stage> = {}

  before(() => {
    ;({ kustomization, manifests } = loadKustomization())
    executors = only(manifests, 'StatefulSet')
    gateway = only(manifests, 'Deployment')
    executor = containerOf(executors)
    gatewayContainer = containerOf(gateway)
    headless = only(manifests, 'Service', executors.spec.serviceName)
    config = loadConfig({ ...plainEnv(executor), CC_EXECUTOR_AUTH_TOKEN: 'x'.repeat(32) }, [])
    for (const [image, file] of Object.entries(DOCKERFILES)) images[image] = readDockerfile(file).at(-1)!
  })

  test('the kustomization lists every manifest file here, and every file it lists is here', () => {
    const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    assert.deepEqual([...kustomization.resources].sort(), files.sort())
    for (const { file, resource } of manifests) {
      assert.ok(resource.apiVersion && resource.kind && resource.metadata?.name, `${file}: every document has apiVersion, kind and metadata.name`)
    }
    const keys = manifests.map(({ resource: r }) => `${r.kind}/${r.metadata.name}`)
    assert.deepEqual(keys, [...new Set(keys)], 'no two resources of a kind share a name')
  })

  test('everything goes into one namespace, made here, that enforces the restricted Pod Security level', () => {
    assert.ok(kustomization.namespace, 'kustomization.yaml sets a namespace')
    const namespace = only(manifests, 'Namespace', kustomization.namespace)
    assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted')
  })

  test('the token: a Secret generated from the git-ignored token.env, never a committed one, read by secretKeyRef', () => {
    assert.equal(manifests.filter((m) => m.resource.kind === 'Secret').length, 0, 'no Secret (and so no token) is committed')
    const generators = kustomization.secretGenerator ?? []
    assert.equal(generators.length, 1)
    const [secret] = generators
    assert.deepEqual(secret.envs, ['token.env'])
    assert.equal(secret.literals, undefined, 'no literal token in kustomization.yaml')
    assert.ok(readFileSync(join(K8S_DIR, '.gitignore'), 'utf8').split('\n').includes('token.env'), 'deploy/k8s/.gitignore keeps token.env out of git')

    const tokenRef = { name: secret.name, key: 'token' }
    assert.deepEqual(envVar(executor, 'CC_EXECUTOR_AUTH_TOKEN').valueFrom, { secretKeyRef: tokenRef }, 'the executors take their token from the Secret')
    assert.deepEqual(envVar(gatewayContainer, 'EXECUTOR_TOKEN').valueFrom, { secretKeyRef: tokenRef }, 'the gateway sends the same token')
    // The gateway listens on every interface: the app refuses to serve there without a token of its own.
    assert.deepEqual(envVar(gatewayContainer, 'CC_EXECUTOR_AUTH_TOKEN').valueFrom, { secretKeyRef: { name: secret.name, key: 'client-token' } }, 'the gateway asks its clients for a token of their own')
    assert.doesNotThrow(() => clientTokens({ tokens: 'x'.repeat(32), host: plainEnv(gatewayContainer).HOST }))
    assert.throws(() => clientTokens({ host: plainEnv(gatewayContainer).HOST }), /without a token/, 'without it the gateway would not start')
    for (const container of [executor, gatewayContainer])
      for (const e of container.env ?? []) {
        if (/TOKEN|SECRET|KEY/.test(e.name)) assert.ok(e.valueFrom?.secretKeyRef, `${container.name}: ${e.name} must come from a Secret, not a value`)
        assert.ok(!/INSECURE/.test(e.name), `${container.name}: the token requirement must not be turned off`)
        if (e.valueFrom === undefined) assert.equal(typeof e.value, 'string', `${container.name}: env ${e.name} must be a string (quote numbers)`)
      }
    for (const container of [executor, gatewayContainer]) assert.ok(![...(container.command ?? []), ...(container.args ?? [])].includes('--insecure'))
  })

  test('the executors: an apps/v1 StatefulSet whose serviceName is a headless Service selecting its pods', () => {
    assert.equal(executors.apiVersion, 'apps/v1')
    assert.equal(headless.spec.clusterIP, 'None', `Service ${headless.metadata.name} must be headless`)
    selects(executors.spec.selector.matchLabels, podLabels(executors), 'the StatefulSet selector')
    selects(headless.spec.selector, podLabels(executors), 'the headless Service')
    assert.ok(Number.isInteger(executors.spec.replicas) && executors.spec.replicas >= 1)
    assert.equal(executor.image, 'cc-executor')
    // In a pod the server listens on every interface (and so needs the token, as the Secret gives it).
    assert.equal(config.HOST, '0.0.0.0')
    assert.equal(portOf(executor, 'http'), config.PORT, 'the container port is the one the server listens on')
    const [port] = headless.spec.ports
    assert.equal(portOf(executor, port.targetPort), config.PORT, 'the headless Service reaches the server')
    assert.equal(Number(envOf(images['cc-executor']).PORT), config.PORT, 'the same port as the image')
  })

  test('the executor settings are valid for the server and bound each pod\'s executions', () => {
    // config, loaded in before(), would have thrown on an invalid value.
    assert.ok(config.MAX_EXECUTIONS !== undefined && config.MAX_EXECUTIONS >= 1, 'MAX_EXECUTIONS is set: the pool places by free capacity')
  })

  test('probes: readiness on /healthz (no token), liveness on /health with the token from the environment', () => {
    const readiness = executor.readinessProbe?.httpGet
    assert.ok(readiness, 'the executor has an httpGet readiness probe')
    assert.equal(readiness.path, '/healthz')
    assert.equal(portOf(executor, readiness.port), config.PORT)

    // /health needs the bearer token (src/security/auth.ts), which an httpGet probe can only carry
    // as a literal header: the probe is a command in the container, which has the token in its env.
    const liveness = executor.livenessProbe
    assert.ok(liveness?.exec, 'the executor has an exec liveness probe')
    const script = liveness.exec.command.join(' ')
    assert.match(script, /\/health'/, 'it asks /health')
    assert.match(script, /process\.env\.CC_EXECUTOR_AUTH_TOKEN/, 'with the token from the container env')
    assert.match(script, /process\.env\.PORT/, 'on the port the server listens on')
    assert.ok(script.includes('AbortSignal.timeout('), 'it gives up by itself')
    const abortMs = Number(/AbortSignal\.timeout\((\d+)\)/.exec(script)![1])
    assert.ok(abortMs < (liveness.timeoutSeconds ?? 1) * 1000, 'before Kubernetes gives up on it')

    for (const container of [gatewayContainer]) {
      for (const kind of ['readinessProbe', 'livenessProbe'] as const) {
        const probe = container[kind]?.httpGet
        assert.ok(probe, `the gateway has an httpGet ${kind}`)
        // Not /health: a gateway whose executors are down must not be restarted for it.
        assert.equal(probe.path, '/healthz')
        assert.equal(portOf(container, probe.port), Number(plainEnv(container).PORT))
      }
    }
  })

  test('every pod runs as its image\'s non-root user, without privilege escalation, capabilities or API token, read-only root', () => {
    for (const workload of [executors, gateway]) {
      const pod = podSpec(workload)
      const what = `${workload.kind} ${workload.metadata.name}`
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${what}: runAsNonRoot`)
      assert.equal(pod.automountServiceAccountToken, false, `${what}: the commands get no Kubernetes API token`)
      for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) assert.ok(!pod[key], `${what}: no ${key}`)
      for (const volume of pod.volumes ?? []) assert.ok(!('hostPath' in volume), `${what}: no hostPath volume`)
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const image = images[container.image]
        assert.ok(image, `${what}: ${container.image} is one of this project's images`)
        const user: unknown = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser
        assert.equal(user, userOf(image), `${what}: runs as its image's USER`)
        assert.notEqual(user, 0)
        const seccomp: unknown = container.securityContext?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type
        assert.equal(seccomp, 'RuntimeDefault', `${what}: the runtime's seccomp profile`)
        const sc = container.securityContext ?? {}
        assert.equal(sc.allowPrivilegeEscalation, false, `${what}/${container.name}: allowPrivilegeEscalation false`)
        assert.equal(sc.readOnlyRootFilesystem, true, `${what}/${container.name}: readOnlyRootFilesystem`)
        assert.ok(sc.capabilities?.drop?.includes('ALL'), `${what}/${container.name}: drops every capability`)
        assert.ok(!sc.privileged, `${what}/${container.name}: not privileged`)
        assert.ok(!sc.capabilities?.add?.length, `${what}/${container.name}: adds no capability`)
      }
    }
  })

  test('every container has cpu and memory requests and limits, requests within limits', () => {
    for (const workload of [executors, gateway]) {
      const pod = podSpec(workload)
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const { requests = {}, limits = {} } = container.resources ?? {}
        for (const resource of ['cpu', 'memory']) {
          const what = `${workload.metadata.name}/${container.name} ${resource}`
          assert.ok(requests[resource] !== undefined && limits[resource] !== undefined, `${what}: a request and a limit`)
          assert.ok(quantity(requests[resource]) <= quantity(limits[resource]), `${what}: request ${requests[resource]} above limit ${limits[resource]}`)
        }
      }
    }
  })

  test('terminationGracePeriodSeconds outlasts the server\'s shutdown after SIGTERM', () => {
    const graceMs = (podSpec(executors).terminationGracePeriodSeconds ?? 30) * 1000
    const deadline = shutdownDeadlineMs(config)
    // A margin for tini and the process to go once the server is done.
    assert.ok(graceMs >= deadline + 5000, `terminationGracePeriodSeconds ${graceMs / 1000} s: the server may take ${deadline / 1000} s (KILL_GRACE_MS ${config.KILL_GRACE_MS} ms)`)
  })

  test('the gateway pod serves on while it leaves the endpoints, and its terminationGracePeriodSeconds outlasts that and its shutdown after SIGTERM', () => {
    // The preStop hook runs before SIGTERM, and the grace period counts it too.
    const preStop = gatewayContainer.lifecycle?.preStop
    assert.ok(preStop?.sleep, 'the gateway container has a preStop sleep: without it, connections routed to it as it terminates are refused')
    const sleepMs = preStop.sleep.seconds * 1000
    assert.ok(sleepMs >= 3000 && sleepMs <= 15_000, `preStop sleeps ${sleepMs / 1000} s: long enough for the endpoints to change, short enough not to hold a rollout`)
    const graceMs = (podSpec(gateway).terminationGracePeriodSeconds ?? 30) * 1000
    assert.ok(graceMs >= sleepMs + SHUTDOWN_DEADLINE_MS + 5000, `terminationGracePeriodSeconds ${graceMs / 1000} s: the preStop sleep takes ${sleepMs / 1000} s, then the gateway may take ${SHUTDOWN_DEADLINE_MS / 1000} s`)
  })

  test('one volume per pod, mounted at the server\'s data dir, larger than the store may grow', () => {
    const templates = executors.spec.volumeClaimTemplates as { metadata: { name: string }; spec: any }[]
    assert.ok(templates?.length, 'the StatefulSet has volumeClaimTemplates')
    const mount = executor.volumeMounts?.find((m) => m.mountPath === config.CC_EXECUTOR_DATA_DIR)
    assert.ok(mount, `something is mounted at the data dir ${config.CC_EXECUTOR_DATA_DIR}`)
    const claim = templates.find((t) => t.metadata.name === mount.name)
    assert.ok(claim, `the data dir is a volumeClaimTemplate (${mount.name})`)
    assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce'])
    // docs/scale-out.md: a pool scaled down and up again finds its records.
    assert.equal(executors.spec.persistentVolumeClaimRetentionPolicy?.whenScaled ?? 'Retain', 'Retain')
    const bytes = quantity(claim.spec.resources.requests.storage)
    assert.ok(config.MAX_DATA_MB * 2 ** 20 < bytes, `MAX_DATA_MB ${config.MAX_DATA_MB} must stay below the volume's ${claim.spec.resources.requests.storage}`)
    assert.equal(envOf(images['cc-executor']).CC_EXECUTOR_DATA_DIR, config.CC_EXECUTOR_DATA_DIR, 'the data dir of the image')
    // Every mount is a declared volume (emptyDirs for /tmp and home on the read-only root).
    for (const workload of [executors, gateway]) {
      const declared = new Set([...(podSpec(workload).volumes ?? []).map((v) => v.name), ...(workload.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name)])
      for (const container of podSpec(workload).containers)
        for (const m of container.volumeMounts ?? []) assert.ok(declared.has(m.name), `${workload.metadata.name}/${container.name}: volume ${m.name} is declared`)
    }
  })

  test('the gateway: an apps/v1 Deployment of the gateway image whose EXECUTOR_URLS names every executor pod', () => {
    assert.equal(gateway.apiVersion, 'apps/v1')
    assert.equal(gatewayContainer.image, 'cc-executor-gateway')
    selects(gateway.spec.selector.matchLabels, podLabels(gateway), 'the Deployment selector')
    const name = executors.metadata.name
    const service = headless.metadata.name
    const port = headless.spec.ports[0].port
    const expected = Array.from({ length: executors.spec.replicas }, (_, i) => `http://${name}-${i}.${service}:${port}`)
    assert.deepEqual(plainEnv(gatewayContainer).EXECUTOR_URLS?.split(','), expected)
    const env = plainEnv(gatewayContainer)
    assert.equal(env.HOST, '0.0.0.0')
    const image = images['cc-executor-gateway']
    assert.equal(env.PORT, envOf(image).PORT, 'the port of the gateway image')
    assert.ok(single(image, 'EXPOSE').args.split(/\s+/).includes(env.PORT))
    assert.equal(portOf(gatewayContainer, 'http'), Number(env.PORT))
    // Without a command of its own the container runs the image's ENTRYPOINT and CMD.
    assert.equal(gatewayContainer.command, undefined)
    assert.equal(executor.command, undefined)

    const services = manifests.map((m) => m.resource).filter((r) => r.kind === 'Service' && r !== headless)
    assert.equal(services.length, 1, 'one Service for the gateway')
    const [front] = services
    selects(front.spec.selector, podLabels(gateway), 'the gateway Service')
    assert.equal(front.spec.type ?? 'ClusterIP', 'ClusterIP', 'the gateway stays inside the cluster; an Ingress is the user\'s choice')
    assert.equal(portOf(gatewayContainer, front.spec.ports[0].targetPort), Number(env.PORT))
  })

  test('network policies: only the gateway reaches the executors, only labelled clients the gateway', () => {
    const policies = manifests.map((m) => m.resource).filter((r) => r.kind === 'NetworkPolicy')
    const covering = (workload: Resource) => {
      const found = policies.filter((p) => Object.entries(p.spec.podSelector.matchLabels ?? {}).every(([k, v]) => podLabels(workload)[k] === v))
      assert.equal(found.length, 1, `one NetworkPolicy selects the ${workload.metadata.name} pods`)
      assert.ok(found[0].spec.policyTypes.includes('Ingress'))
      return found[0].spec.ingress as { from: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown; ipBlock?: unknown }[]; ports: { port: number }[] }[]
    }
    const toExecutors = covering(executors)
    assert.equal(toExecutors.length, 1)
    assert.equal(toExecutors[0].from.length, 1)
    const [from] = toExecutors[0].from
    assert.ok(!from.namespaceSelector && !from.ipBlock, 'from pods of this namespace only')
    selects(from.podSelector?.matchLabels, podLabels(gateway), 'the executors accept')
    assert.deepEqual(toExecutors[0].ports.map((p) => p.port), [config.PORT])
    const toGateway = covering(gateway)
    assert.ok(toGateway.every((rule) => rule.from?.length > 0), 'the gateway is not open to every pod')
    assert.ok(toGateway.every((rule) => rule.ports.every((p) => p.port === Number(plainEnv(gatewayContainer).PORT))))
  })

  test('the kustomization names every image the workloads run', () => {
    const named = new Set((kustomization.images ?? []).map((i) => i.name))
    for (const workload of [executors, gateway]) for (const container of podSpec(workload).containers) assert.ok(named.has(container.image), `images: ${container.image}`)
  })

  test('the gateway image pins the Deno of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
    assert.equal(readDockerfile('deploy/gateway.Dockerfile').at(-1)!.from, `denoland/deno:${pkg.devDependencies.deno}`)
  })
})
