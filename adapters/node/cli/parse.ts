/** @module adapters/node/cli/parse — the option values the commands take (commander argParsers): a bad one is a usage error. */
import { InvalidArgumentError } from 'commander'
import * as v from 'valibot'
import { Label } from '../../../src/protocol/schemas.ts'

export const positiveNumber = (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds')
  return n
}
export const nonNegativeNumber = (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds, 0 or more')
  return n
}
/** An integer, `min` or more. */
const integer =
  (min: number) =>
  (value: string): number => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer, ${min} or more`)
    return n
  }
export const nonNegativeInteger = integer(0)
export const positiveInteger = integer(1)
export const envPair = (value: string, previous: Record<string, string> = {}): Record<string, string> => {
  const equals = value.indexOf('=')
  if (equals <= 0) throw new InvalidArgumentError('expected NAME=value')
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) }
}
/** A label as the server takes it (the protocol's Label schema). */
export const label = (value: string): string => {
  const parsed = v.safeParse(Label, value)
  if (!parsed.success) throw new InvalidArgumentError(parsed.issues[0].message)
  return parsed.output
}
