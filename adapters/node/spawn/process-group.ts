/** @module adapters/node/spawn/process-group — signals and liveness for a whole process group. */
import { readdirSync, readFileSync } from 'node:fs'

/** Sends a signal to every process of the group; false when the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

/**
 * Whether any process of the group still runs. kill(-pgid, 0) also succeeds while only zombies
 * are left (reparented children that an init without reaping never collects), so on Linux the
 * answer is confirmed from /proc.
 */
export function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return true
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) > 57) continue
    const fields = statFields(entry)
    if (fields && Number(fields[2]) === pgid && live(fields)) return true
  }
  return false
}

/**
 * The process groups of `root`'s descendants other than `own`: children that made a session or
 * group of their own (setsid, as Claude Code does for each Bash tool call) and would escape a
 * signal to `own`. Read from /proc in one pass; found only while their parents still live.
 */
export function escapedGroups(root: number, own: number): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const children = new Map<number, { pid: number; pgid: number }[]>()
  for (const entry of entries) {
    if (entry.charCodeAt(0) > 57) continue
    const fields = statFields(entry)
    if (!fields || !live(fields)) continue
    const ppid = Number(fields[1])
    let list = children.get(ppid)
    if (!list) children.set(ppid, (list = []))
    list.push({ pid: Number(entry), pgid: Number(fields[2]) })
  }
  const groups = new Set<number>()
  const queue = [root]
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    for (const child of children.get(pid) ?? []) {
      if (child.pgid !== own) groups.add(child.pgid)
      queue.push(child.pid)
    }
  }
  return [...groups]
}

/** Whether a process with this pid exists (of any user; a zombie counts). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** Resolves once the process is gone (or only a zombie that nobody reaps is left of it). */
export async function waitForProcessExit(pid: number, everyMs = 50): Promise<void> {
  for (let fields = statFields(pid); fields && live(fields); fields = statFields(pid)) {
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/**
 * The fields of /proc/<pid>/stat after "pid (comm) ": state, ppid, pgrp, ... (comm may hold spaces
 * and parentheses, so it is cut at the last ')'); undefined once the process is gone.
 */
function statFields(pid: number | string): string[] | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

const live = (fields: string[]) => fields[0] !== 'Z' && fields[0] !== 'X'

/** Resolves once the group is gone, polling at `everyMs` (only used after the leader exited). */
export async function waitForGroupExit(pgid: number, everyMs = 10): Promise<void> {
  while (groupAlive(pgid)) await new Promise((resolve) => setTimeout(resolve, everyMs))
}
