/** Reading the real process table: states and group membership, from /proc. */
import { readdirSync, readFileSync } from 'node:fs'

/** What /proc/<pid>/stat says of a process after "pid (comm) ". */
interface Stat {
  state: string
  ppid: number
  pgrp: number
}

function stat(pid: number | string): Stat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // comm may hold spaces and parentheses, so it is cut at the last ')'.
  const [state, ppid, pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { state, ppid: Number(ppid), pgrp: Number(pgrp) }
}

/** The state letter of a process (R, S, T, Z, …), or undefined when it is gone. */
export function processState(pid: number): string | undefined {
  return stat(pid)?.state
}

/** Pids of live (non-zombie) processes that `match` accepts. */
export function processesWhere(match: (stat: Stat) => boolean): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const found = stat(entry)
    if (found && found.state !== 'Z' && match(found)) pids.push(Number(entry))
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

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `check` is true, or fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** Pids of live (non-zombie) processes whose command line (arguments joined by spaces) is `command`. */
export function processesRunning(command: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
    } catch {
      continue
    }
    if (cmdline === command && stat(entry)?.state !== 'Z') pids.push(Number(entry))
  }
  return pids
}
