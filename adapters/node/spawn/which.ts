/** @module adapters/node/spawn/which — where a program really is: PATH for a bare name, cwd for a relative path. */
import { accessSync, constants, realpathSync, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, resolve } from 'node:path'

/** The real absolute path of the executable file that `program` names, or undefined. */
export function which(program: string, cwd?: string): string | undefined {
  const candidates = program.includes('/')
    ? [isAbsolute(program) ? program : resolve(cwd ?? process.cwd(), program)]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, program))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return realpathSync(candidate)
    } catch {
      // not this one
    }
  }
  return undefined
}
