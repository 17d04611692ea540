/**
 * Reading the real process table from /proc (Linux), for the tests and the bench: states, parents
 * and process groups, command lines, open files, memory, CPU time, wait channels and I/O counters.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

function read(path: string, encoding: BufferEncoding = 'latin1'): string | undefined {
  try {
    return readFileSync(path, encoding)
  } catch {
    return undefined
  }
}

/** What /proc/<pid>/stat says of a process. */
export interface ProcStat {
  /** The command name (at most 15 characters). */
  comm: string
  /** R running, S sleeping, D disk sleep, T stopped, Z zombie, ... */
  state: string
  ppid: number
  pgrp: number
  /** CPU time in clock ticks, in user and in system mode (fields 14 and 15). */
  utime: number
  stime: number
}

/** The stat of a process, or undefined when it is gone. */
export function procStat(pid: number | string): ProcStat | undefined {
  const text = read(`/proc/${pid}/stat`)
  if (text === undefined) return undefined
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so it is cut at the last ')'.
  const close = text.lastIndexOf(')')
  const fields = text.slice(close + 2).split(' ')
  // Counted from the state field (the 3rd): utime and stime, the 14th and 15th, are at 11 and 12.
  return { comm: text.slice(text.indexOf('(') + 1, close), state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]), utime: Number(fields[11]), stime: Number(fields[12]) }
}

/** The state letter of a process (R, S, T, Z, …), or undefined when it is gone. */
export function processState(pid: number): string | undefined {
  return procStat(pid)?.state
}

/** Pids of live (non-zombie) processes that `match` accepts. */
export function processesWhere(match: (stat: ProcStat, pid: number) => boolean): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    const stat = procStat(pid)
    if (stat && stat.state !== 'Z' && stat.state !== 'X' && match(stat, pid)) pids.push(pid)
  }
  return pids
}

/** Pids of live (non-zombie) processes whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  return processesWhere((s) => s.pgrp === pgid)
}

/** Pids of the live (non-zombie) children of `pid`. */
export function childrenOf(pid: number): number[] {
  return processesWhere((s) => s.ppid === pid)
}

/** Pids of every live process below `root` (children, their children, …). */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>()
  processesWhere((stat, pid) => {
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid])
    return false
  })
  const found: number[] = []
  for (let queue = [root]; queue.length > 0; ) {
    const next = children.get(queue.shift()!) ?? []
    found.push(...next)
    queue.push(...next)
  }
  return found
}

/** A process's arguments (/proc/<pid>/cmdline), or undefined when it is gone. */
export function commandLine(pid: number): string[] | undefined {
  const text = read(`/proc/${pid}/cmdline`, 'utf8')
  return text === undefined ? undefined : text.split('\0').slice(0, text.endsWith('\0') ? -1 : undefined)
}

/** Pids of live (non-zombie) processes whose command line (arguments joined by spaces) is `command`. */
export function processesRunning(command: string): number[] {
  return processesWhere((_, pid) => commandLine(pid)?.join(' ').trim() === command)
}

/** Where each open file descriptor of a process points ("/path", "pipe:[123]", "socket:[456]"); [] once it is gone. */
export function openFiles(pid: number): string[] {
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  return fds.flatMap((fd) => {
    const target = fileOf(pid, Number(fd))
    return target === undefined ? [] : [target] // closed meanwhile
  })
}

/** Where one file descriptor of a process points, or undefined when it is closed or the process is gone. */
export function fileOf(pid: number, fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`)
  } catch {
    return undefined
  }
}

/** Resident set size in KiB (VmRSS from /proc/<pid>/status), undefined once the process is gone. */
export function rssKiB(pid: number): number | undefined {
  const match = read(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+)\s+kB/m)
  return match ? Number(match[1]) : undefined
}

/** The kernel function a sleeping process waits in (e.g. "pipe_write"); "0" while it runs. */
export function wchan(pid: number): string | undefined {
  return read(`/proc/${pid}/wchan`)?.trim()
}

/** Bytes the process has passed to write()-like syscalls so far (/proc/<pid>/io "wchar"). */
export function writtenBytes(pid: number): number | undefined {
  const match = read(`/proc/${pid}/io`)?.match(/^wchar:\s+(\d+)/m)
  return match ? Number(match[1]) : undefined
}

let ticksPerSecond: number | undefined

/** CPU time (user + system) the process has used, in milliseconds. */
export function cpuMs(pid: number): number | undefined {
  const stat = procStat(pid)
  if (stat === undefined) return undefined
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return ((stat.utime + stat.stime) * 1000) / ticksPerSecond
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Waits until `check` is true, or fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
