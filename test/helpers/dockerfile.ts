/**
 * A Dockerfile, proven without a Docker engine: a small reader (strict about anything this
 * project's files do not use), .dockerignore as Docker applies it, and a replay of the build stage
 * by stage in fresh directories (each context COPY through the ignore file, each COPY --from, and
 * `npm ci --omit=dev` RUNs), whose processes are each their own group, killed by `cleanUp()`.
 * Used by the image tests (test/integration/*dockerfile.test.ts) and, read only, by the manifest test.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import type { TestContext } from 'node:test'
import { descendantsOf } from './proc.ts'
import { ROOT } from './server.ts'

// ---- the reader ----

export interface Instruction {
  op: string
  /** --name=value options (COPY --from, RUN --mount, HEALTHCHECK --interval …). */
  flags: Record<string, string>
  args: string
  line: number
}

export interface Stage {
  name: string | undefined
  /** What FROM names, after the ARG defaults given before the first FROM. */
  from: string
  instructions: Instruction[]
}

export function parseDockerfile(text: string): Stage[] {
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
  const globalArgs: Record<string, string> = {}
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
      const image = args.split(/\s+/)[0].replace(/^\$\{(\w+)\}$/, (_, name: string) => globalArgs[name] ?? '')
      stages.push({ name: /\s+AS\s+(\S+)\s*$/i.exec(args)?.[1], from: image, instructions: [] })
      continue
    }
    if (stages.length === 0) {
      assert.equal(op, 'ARG', `Dockerfile line ${line}: only ARG may come before the first FROM`)
      const [name, value = ''] = args.split('=')
      globalArgs[name] = value
      continue
    }
    stages.at(-1)!.instructions.push({ op, flags, args, line })
  }
  assert.ok(stages.length > 0, 'Dockerfile has no FROM')
  return stages
}

export const readDockerfile = (path: string): Stage[] => parseDockerfile(readFileSync(join(ROOT, path), 'utf8'))

export const all = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op)

export function single(stage: Stage, op: string): Instruction {
  const found = all(stage, op)
  assert.equal(found.length, 1, `the Dockerfile's last stage must have exactly one ${op} (found ${found.length})`)
  return found[0]
}

/** The exec (JSON) form of CMD / ENTRYPOINT / HEALTHCHECK CMD: Docker silently falls back to a shell when the JSON is invalid. */
export function execForm(args: string, what: string): string[] {
  let argv: unknown
  try {
    argv = JSON.parse(args)
  } catch {
    assert.fail(`${what} must be in JSON (exec) form, got: ${args}`)
  }
  assert.ok(Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string'), `${what} must be a JSON array of strings`)
  return argv as string[]
}

/** The command of `HEALTHCHECK [options] CMD [...]`, in exec form. */
export function healthcheckOf(stage: Stage): string[] {
  const cmd = /^CMD\s+(.*)$/s.exec(single(stage, 'HEALTHCHECK').args)
  assert.ok(cmd, 'HEALTHCHECK must run a CMD')
  return execForm(cmd[1], 'HEALTHCHECK CMD')
}

/** ENV key=value … (quotes allowed, no variable references), in the order given. */
export function envOf(stage: Stage): Record<string, string> {
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

/** The numeric uid of the last stage's USER (numeric, so that a runAsNonRoot check can verify it). */
export function userOf(stage: Stage): number {
  const user = single(stage, 'USER').args.split(':')[0]
  assert.match(user, /^\d+$/, `USER must be numeric, got ${user}`)
  return Number(user)
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

/** The ignore file at `path` (relative to the repo) as a predicate on context paths. */
export function dockerignore(path: string): (path: string) => boolean {
  const rules = readFileSync(join(ROOT, path), 'utf8')
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

/** Files (relative slash paths) under `source` in the build context, after the ignore file. */
function contextFiles(source: string, ignored: (path: string) => boolean): string[] {
  const abs = join(ROOT, source)
  if (!existsSync(abs)) return []
  if (!lstatSync(abs).isDirectory()) return ignored(source) ? [] : [source]
  return readdirSync(abs).flatMap((name) => contextFiles(posix.join(source, name), ignored))
}

// ---- the replay ----

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

/** `node` and `deno` in an exec form run this test's own node and the project's deno: the versions the images pin. */
export const resolveBinary = (argv: string[]): string[] =>
  argv[0] === 'node' ? [process.execPath, ...argv.slice(1)] : argv[0] === 'deno' ? [join(ROOT, 'node_modules', '.bin', 'deno'), ...argv.slice(1)] : argv

export interface Built {
  /** The directory standing for the last stage's filesystem. */
  root: string
  /** Its WORKDIR, inside root. */
  cwd: string
  /** Each `npm ci` replayed: its stage, and whether it left the dev dependencies out. */
  npmCi: { stage: string; omitDev: boolean }[]
  /** The console bundle each `npm run build` wrote, by path in its stage. */
  bundles: string[]
}

/** The web console's bundle: generated by `npm run build` (and `npm ci`'s prepare), not committed. */
export const BUNDLE = 'src/console/assets.generated.ts'

/**
 * One replay: a fresh directory under the system temp dir (away from the repo, so that nothing
 * resolves from the repo's node_modules) and the processes started in it. `npm test` gives each
 * test file 300 s in all, so the waits stay well inside that; if the runner still ends a file with
 * SIGTERM, the groups go with it.
 */
export class Replay {
  readonly work = mkdtempSync(join(tmpdir(), 'cc-executor-image-'))
  readonly #started = new Set<ChildProcess>()
  readonly #onSigterm = () => {
    this.cleanUp()
    process.exit(143)
  }

  constructor() {
    process.once('SIGTERM', this.#onSigterm)
  }

  /** A fresh directory inside the replay's. */
  dir(prefix: string): string {
    return mkdtempSync(join(this.work, prefix))
  }

  run(argv: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess {
    const child = spawn(argv[0], argv.slice(1), { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    this.#started.add(child)
    child.once('exit', () => this.#started.delete(child))
    return child
  }

  /** Waits for a child to end (killing its group after timeoutMs, which fails) and gives its output. */
  async finish(child: ChildProcess, timeoutMs: number, what: string): Promise<{ code: number | null; output: string }> {
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    child.stderr!.on('data', (d) => (output += d))
    const timer = setTimeout(() => killGroup(child), timeoutMs)
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null]
    clearTimeout(timer)
    assert.ok(signal === null, `${what} was killed (${signal}) after ${timeoutMs} ms:\n${output}`)
    return { code, output }
  }

  /** SIGKILL to a child's group and everything under it. */
  kill(child: ChildProcess): void {
    killGroup(child)
  }

  cleanUp(): void {
    process.off('SIGTERM', this.#onSigterm)
    for (const child of this.#started) killGroup(child)
    rmSync(this.work, { recursive: true, force: true })
  }

  /**
   * Replays the build: every stage in a fresh directory, context COPYs through `ignoreFile`, COPY
   * --from between stages, each `npm ci` and `npm run build` RUN (the build must write the console's
   * bundle, absent before it); other RUNs set up the system and are named in the test's diagnostics.
   */
  async build(stages: Stage[], ignoreFile: string, t: TestContext): Promise<Built> {
    const ignored = dockerignore(ignoreFile)
    const roots = new Map<string, string>()
    const npmCi: Built['npmCi'] = []
    const bundles: string[] = []
    let built: Built | undefined
    for (const [index, stage] of stages.entries()) {
      const root = join(this.work, `stage-${index}`)
      mkdirSync(root)
      roots.set(String(index), root)
      if (stage.name) roots.set(stage.name, root)
      let workdir = '/'
      for (const { op, flags, args, line } of stage.instructions) {
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
            assert.ok(inContext.length > 0, `${at}: ${source} is not in the build context (missing, or excluded by ${ignoreFile})`)
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
          const npm = this.run(ci ? [...argv, '--prefer-offline', '--no-audit', '--no-fund'] : argv, { cwd, env: process.env })
          // A full npm ci (every dev dependency) takes ~15 s from npm's cache on an idle machine.
          const { code, output } = await this.finish(npm, 120_000, argv.join(' '))
          assert.equal(code, 0, `${at} failed:\n${output}`)
          t.diagnostic(`${argv.join(' ')} in stage ${stage.name ?? index}: ${Date.now() - began} ms`)
          if (ci) npmCi.push({ stage: stage.name ?? String(index), omitDev: argv.includes('--omit=dev') })
          else {
            assert.ok(existsSync(join(cwd, BUNDLE)), `${at} did not write ${BUNDLE}`)
            bundles.push(join(cwd, BUNDLE))
          }
        }
      }
      if (index === stages.length - 1) built = { root, cwd: join(root, workdir), npmCi, bundles }
    }
    return built!
  }
}

/**
 * The image's two builds: one `npm ci --omit=dev` for the runtime's node_modules, one full `npm ci`
 * and `npm run build` for the console's bundle, which the runtime takes from that stage (a fresh
 * clone has no bundle, and the context must not carry a checkout's).
 */
export function assertConsoleBuilt(built: Built, ignoreFile: string): void {
  assert.equal(built.npmCi.filter((n) => n.omitDev).length, 1, 'expected one RUN npm ci --omit=dev (the runtime\'s node_modules)')
  assert.equal(built.npmCi.length, 2, 'expected one more npm ci, with the dev dependencies, for the console\'s bundle')
  assert.ok(dockerignore(ignoreFile)(BUNDLE), `${ignoreFile} must keep a checkout's ${BUNDLE} out of the context`)
  assert.equal(built.bundles.length, 1, 'expected one RUN npm run build')
  const served = join(built.cwd, BUNDLE)
  assert.ok(existsSync(served), `the runtime stage has no ${BUNDLE}`)
  assert.ok(readFileSync(served).equals(readFileSync(built.bundles[0])), `the runtime's ${BUNDLE} is the one the build stage made`)
}

/** The production node_modules of a replayed stage hold no dev tool. */
export function assertProductionModules(cwd: string): void {
  const modules = join(cwd, 'node_modules')
  assert.ok(existsSync(join(modules, 'hono')), 'the runtime stage has the production dependencies')
  // (typescript may be there: valibot's optional peer, kept because the root also has it as a dev dependency)
  for (const dev of ['wrangler', 'bun', 'deno', 'yaml', '@types/node', '@types/ws']) assert.ok(!existsSync(join(modules, dev)), `the runtime stage must not have the dev dependency ${dev}`)
}
