/**
 * @module security/allow-list — which programs may run. With an allow-list, a shell string is not
 * given to a shell: it is split into words here, refused if it holds anything a shell would act on
 * (`;` `&` `|` `$` backticks, redirections, subshells, newlines, globs, escapes), and run as argv.
 * The program is judged by what it resolves to: `/usr/bin/rm` is `rm`, `./git` is not the `git` on
 * PATH, and wrappers such as `env` or `xargs` are refused unless allowed themselves, in which case
 * the program they would run is judged too.
 */
import { ErrorCode, RpcError } from '../protocol/errors.ts'

export interface AllowListOptions {
  /** Program names that may run (basenames, e.g. "git", "claude"). */
  programs: readonly string[]
  /** Optional argv patterns per program: the arguments, joined by single spaces, must match one. */
  patterns?: Readonly<Record<string, readonly RegExp[]>>
  /**
   * Resolves a program as the executor would run it: a bare name through PATH, a path relative to cwd.
   * Returns the real absolute path, or undefined when there is no such program.
   */
  resolve: (program: string, cwd: string | undefined) => string | undefined
}

/** Programs that run another program named in their arguments. */
const WRAPPERS = new Set([
  'env', 'nice', 'nohup', 'timeout', 'stdbuf', 'time', 'command', 'exec', 'sudo', 'doas', 'xargs', 'setsid',
  'chroot', 'ionice', 'taskset', 'strace', 'ltrace', 'unbuffer', 'busybox', 'flock', 'watch', 'chrt', 'prlimit',
])

/** Environment variables that make an allowed program load or run something else. */
const HIJACKING_ENV = /^(LD_\w+|DYLD_\w+|PATH|BASH_ENV|ENV|BASHOPTS|SHELLOPTS|IFS|PS4|NODE_OPTIONS|NODE_PATH|PYTHON(PATH|STARTUP|HOME)|PERL5(OPT|LIB)|RUBY(OPT|LIB)|GIT_\w+|GCONV_PATH|HOSTALIASES|LOCALDOMAIN|PAGER|GIT_PAGER|EDITOR|VISUAL|BROWSER)$/

/** Characters a shell gives a meaning to, beyond quoting and separating words. */
const SHELL_SYNTAX = /[;&|<>()$`\\\n\r*?[\]{}~#!]/

function refuse(reason: string): never {
  throw new RpcError(ErrorCode.COMMAND_NOT_ALLOWED, `Command not allowed: ${reason}`, { reason })
}

/**
 * Splits a shell string into words, allowing only plain words, '…' and "…" quoting (no `$`,
 * backticks or backslashes anywhere, since a shell would act on them even inside double quotes).
 */
export function splitWords(command: string): string[] {
  const words: string[] = []
  let word: string | undefined
  for (let i = 0; i < command.length; i++) {
    const ch = command[i]
    if (ch === "'" || ch === '"') {
      const end = command.indexOf(ch, i + 1)
      if (end === -1) refuse('an unterminated quote')
      const quoted = command.slice(i + 1, end)
      if (ch === '"' && /[$`\\!]/.test(quoted)) refuse(`shell syntax inside double quotes: ${JSON.stringify(quoted)}`)
      word = (word ?? '') + quoted
      i = end
    } else if (ch === ' ' || ch === '\t') {
      if (word !== undefined) words.push(word)
      word = undefined
    } else if (SHELL_SYNTAX.test(ch)) {
      refuse(`shell syntax ${JSON.stringify(ch)} (with an allow-list, commands run without a shell; send argv)`)
    } else {
      word = (word ?? '') + ch
    }
  }
  if (word !== undefined) words.push(word)
  if (words.length === 0) refuse('an empty command')
  return words
}

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1)

export class AllowList {
  readonly #programs: Set<string>
  readonly #patterns: Readonly<Record<string, readonly RegExp[]>>
  readonly #resolve: AllowListOptions['resolve']

  constructor({ programs, patterns = {}, resolve }: AllowListOptions) {
    this.#programs = new Set(programs)
    this.#patterns = patterns
    this.#resolve = resolve
  }

  /**
   * The argv to run for this request — its program replaced by the absolute path that was judged, so
   * that nothing (a PATH in `env`, a file appearing later) can swap it — or an RpcError -32001.
   */
  check(request: { command?: string; argv?: string[]; cwd?: string; env?: Record<string, string> }): string[] {
    for (const name of Object.keys(request.env ?? {})) {
      if (HIJACKING_ENV.test(name)) refuse(`the environment variable ${name} cannot be set for allowed programs`)
    }
    const argv = request.argv ?? splitWords(request.command!)
    const path = this.#checkProgram(argv, request.cwd, 0)
    return [path, ...argv.slice(1)]
  }

  #checkProgram(argv: readonly string[], cwd: string | undefined, depth: number): string {
    const program = argv[0]
    const name = basename(program)
    if (!this.#programs.has(name)) refuse(`${JSON.stringify(name)} is not an allowed program`)
    // The name must mean the allowed program itself: the one PATH finds, not a look-alike elsewhere.
    const onPath = this.#resolve(name, undefined)
    const actual = this.#resolve(program, cwd)
    if (!onPath || actual !== onPath) refuse(`${JSON.stringify(program)} does not resolve to the allowed ${name} (${onPath ?? 'not installed'})`)
    const patterns = this.#patterns[name]
    if (patterns && !patterns.some((p) => p.test(argv.slice(1).join(' ')))) refuse(`these arguments of ${name} match no allowed pattern`)
    if (WRAPPERS.has(name)) {
      const wrapped = wrappedCommand(name, argv.slice(1))
      if (!wrapped) refuse(`${name} without a program to run`)
      if (depth > 3) refuse('too many nested wrappers')
      this.#checkProgram(wrapped, cwd, depth + 1)
    }
    return onPath
  }
}

/** The command a wrapper would run: its first argument that is not an option, assignment or number. */
function wrappedCommand(wrapper: string, args: readonly string[]): string[] | undefined {
  let i = 0
  while (i < args.length) {
    const arg = args[i]
    if (arg === '--') {
      i += 1
      break
    }
    const isOption = arg.startsWith('-')
    const isAssignment = wrapper === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)
    const isNumber = /^[0-9.]+[smhd]?$/.test(arg)
    if (!isOption && !isAssignment && !isNumber) break
    i += 1
  }
  return i < args.length ? args.slice(i) : undefined
}
