/**
 * @module adapters/node/cli/outcome — how a command ends: an exit code, or a CliError carrying
 * one. Commands hand their outcome to main() (settle) rather than to commander.
 */
import { ErrorCode, ExecutorError } from '../../../src/client/index.ts'

/** Hands a command's work (resolving with its exit code) to main(). */
export type Settle = (work: Promise<number>) => Promise<void>

/** A failure with the exit code it leaves with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

export function describe(error: unknown): string {
  if (error instanceof ExecutorError) {
    const cause = (error.data as { cause?: unknown } | undefined)?.cause
    return `${error.message} (${error.code}${cause ? `, ${String(cause)}` : ''})`
  }
  return (error as Error).message ?? String(error)
}

/** Client errors of `run`: 127 when the program does not exist, 126 when it cannot be executed, else 125 (as docker run). */
export function runFailure(error: unknown): CliError {
  if (error instanceof CliError) return error
  if (error instanceof ExecutorError && error.code === ErrorCode.INTERNAL_ERROR) {
    const cause = String((error.data as { cause?: unknown } | undefined)?.cause ?? '')
    if (cause === 'ENOENT') return new CliError(describe(error), 127)
    if (cause === 'EACCES') return new CliError(describe(error), 126)
  }
  return new CliError(describe(error), 125)
}
