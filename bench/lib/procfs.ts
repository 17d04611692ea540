/** Reading other processes from /proc (Linux): memory, scheduler state, wait channel, I/O counters. */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1')
  } catch {
    return undefined
  }
}

/** Resident set size in KiB (VmRSS from /proc/<pid>/status), undefined once the process is gone. */
export function rssKiB(pid: number): number | undefined {
  const status = read(`/proc/${pid}/status`)
  const match = status?.match(/^VmRSS:\s+(\d+)\s+kB/m)
  return match ? Number(match[1]) : undefined
}

export interface ProcStat {
  /** The command name (at most 15 characters). */
  comm: string
  /** R running, S sleeping, D disk sleep, T stopped, Z zombie, ... */
  state: string
  ppid: number
  pgrp: number
}

export function procStat(pid: number): ProcStat | undefined {
  const stat = read(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses, so cut at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]) }
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

/** Pids of the live (non-zombie) processes whose stat matches. */
export function processesWhere(match: (stat: ProcStat) => boolean): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue
    const stat = procStat(Number(entry))
    if (stat && stat.state !== 'Z' && stat.state !== 'X' && match(stat)) pids.push(Number(entry))
  }
  return pids
}

/** Pids of the live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  return processesWhere((stat) => stat.pgrp === pgid)
}

let ticksPerSecond: number | undefined

/** CPU time (user + system) the process has used, in milliseconds (/proc/<pid>/stat utime + stime). */
export function cpuMs(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 of stat; here indexes 11 and 12, counted from the state field (3rd).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
}
