/**
 * @module adapters/cloudflare/pool-state — the pool's shared state on Workers: one Durable Object
 * (declared in wrangler.toml as POOL_STATE) holds the PoolBook, so that every isolate of the gateway
 * places with the same health, load and counters. Its state is soft: a Durable Object that is
 * evicted starts afresh, and the executors' /health refills it.
 */
import { PoolBook, type MemberState, type PoolState } from '../../src/index.ts'

// The Workers types this file uses, declared here so that the project's type check needs no Workers types.
export interface DurableObjectNamespace {
  idFromName(name: string): unknown
  get(id: unknown): { fetch(url: string, init: RequestInit): Promise<Response> }
}

type Operation = { [K in keyof PoolState]: { op: K; args: Parameters<PoolState[K]> } }[keyof PoolState]

/** The Durable Object: one PoolBook, its operations called as JSON over fetch. */
export class PoolStateObject {
  readonly #book = new PoolBook()

  async fetch(request: Request): Promise<Response> {
    const { op, args } = (await request.json()) as Operation
    const book = this.#book
    switch (op) {
      case 'place':
        return Response.json({ placement: book.place(...args), members: book.snapshot() })
      case 'settle':
        book.settle(...args)
        break
      case 'release':
        book.release(...args)
        break
      case 'report':
        book.report(...args)
        break
      case 'count':
        book.count(...args)
        break
      case 'snapshot':
        break
      default:
        return Response.json({ error: `unknown operation ${String(op)}` }, { status: 400 })
    }
    return Response.json(book.snapshot())
  }
}

/** The PoolState of a Workers gateway: every call goes to the pool's one Durable Object. */
export function durablePoolState(namespace: DurableObjectNamespace, name: string): PoolState {
  const id = namespace.idFromName(name)
  const call = async <T>(op: Operation['op'], ...args: unknown[]): Promise<T> => {
    // A stub belongs to the request that made it (Workers refuse its I/O from another): one per call.
    const response = await namespace.get(id).fetch('https://pool-state/', { method: 'POST', body: JSON.stringify({ op, args }) })
    if (!response.ok) throw new Error(`the pool's Durable Object answered HTTP ${response.status}`)
    return (await response.json()) as T
  }
  return {
    place: (members, exclude) => call('place', members, exclude),
    settle: (tag, started) => call<MemberState[]>('settle', tag, started),
    release: (tag) => call<MemberState[]>('release', tag),
    report: (member, health) => call<MemberState[]>('report', member, health),
    count: (member, counter) => call<MemberState[]>('count', member, counter),
    snapshot: () => call<MemberState[]>('snapshot'),
  }
}
