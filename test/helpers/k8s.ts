/**
 * The Kubernetes manifests of deploy/k8s as the tests read them: the kustomization and every
 * document of every file it lists, parsed by `yaml` (strict: a syntax error, a duplicate key or a
 * warning fails), with the few look-ups the tests share.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { ROOT } from './server.ts'

export const K8S_DIR = join(ROOT, 'deploy', 'k8s')

// The manifests' shapes, as far as the tests look into them.
export interface EnvVar {
  name: string
  value?: unknown
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } }
}
export interface Probe {
  httpGet?: { path: string; port: number | string; httpHeaders?: { name: string; value: string }[] }
  exec?: { command: string[] }
  tcpSocket?: { port: number | string }
  timeoutSeconds?: number
}
export interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  ports?: { name?: string; containerPort: number }[]
  env?: EnvVar[]
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  securityContext?: Record<string, any>
  volumeMounts?: { name: string; mountPath: string }[]
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } }
}
export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  volumes?: { name: string; [source: string]: unknown }[]
  securityContext?: Record<string, any>
  terminationGracePeriodSeconds?: number
  automountServiceAccountToken?: boolean
  [key: string]: unknown
}
export interface Resource {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string>; [key: string]: unknown }
  spec?: any
  [key: string]: unknown
}
export interface Manifest {
  /** The file it came from, relative to deploy/k8s. */
  file: string
  resource: Resource
}

/** Every document of a YAML file, as plain values; any error or warning fails with the file's name. */
export function readYaml(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { prettyErrors: true }).map((doc) => {
    assert.deepEqual([...doc.errors, ...doc.warnings].map(String), [], `${path} does not parse`)
    return doc.toJS()
  })
}

export interface Kustomization {
  namespace?: string
  resources: string[]
  secretGenerator?: { name: string; envs?: string[]; files?: string[]; literals?: string[] }[]
  images?: { name: string; newName?: string; newTag?: string }[]
  [key: string]: unknown
}

export function loadKustomization(): { kustomization: Kustomization; manifests: Manifest[] } {
  const [kustomization, ...more] = readYaml(join(K8S_DIR, 'kustomization.yaml')) as Kustomization[]
  assert.equal(more.length, 0, 'kustomization.yaml holds one document')
  assert.ok(Array.isArray(kustomization.resources), 'kustomization.yaml lists its resources')
  const manifests = kustomization.resources.flatMap((file) =>
    readYaml(join(K8S_DIR, file))
      .filter((doc) => doc !== null)
      .map((resource) => ({ file, resource: resource as Resource })),
  )
  return { kustomization, manifests }
}

/** The one resource of that kind (and name, if given). */
export function only(manifests: Manifest[], kind: string, name?: string): Resource {
  const found = manifests.filter((m) => m.resource.kind === kind && (name === undefined || m.resource.metadata?.name === name))
  assert.equal(found.length, 1, `expected exactly one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}`)
  return found[0].resource
}

/** A workload's one container. */
export function containerOf(workload: Resource): Container {
  const containers = (workload.spec.template.spec as PodSpec).containers
  assert.equal(containers.length, 1, `${workload.kind} ${workload.metadata.name} has one container`)
  return containers[0]
}

/** A container's env values, plain values only (valueFrom entries are left out). */
export function plainEnv(container: Container): Record<string, string> {
  return Object.fromEntries((container.env ?? []).filter((e) => e.valueFrom === undefined).map((e) => [e.name, String(e.value)]))
}

/** A container's env entry by name. */
export function envVar(container: Container, name: string): EnvVar {
  const found = (container.env ?? []).filter((e) => e.name === name)
  assert.equal(found.length, 1, `container ${container.name} sets ${name} once`)
  return found[0]
}

/** A probe's port, a number or the name of one of the container's ports, as a number. */
export function portOf(container: Container, port: number | string): number {
  if (typeof port === 'number') return port
  const named = container.ports?.find((p) => p.name === port)
  assert.ok(named, `container ${container.name} has no port named ${port}`)
  return named.containerPort
}
