/** @module adapters/node/cli/parse — the option values the commands take (commander argParsers): a bad one is a usage error. */
import { InvalidArgumentError } from 'commander'

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
export const nonNegativeInteger = (value: string): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer, 0 or more')
  return n
}
export const envPair = (value: string, previous: Record<string, string> = {}): Record<string, string> => {
  const equals = value.indexOf('=')
  if (equals <= 0) throw new InvalidArgumentError('expected NAME=value')
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) }
}

/** An integer, 1 or more. */
export const positiveInteger = (value: string): number => {
  const n = nonNegativeInteger(value)
  if (n < 1) throw new InvalidArgumentError('expected an integer, 1 or more')
  return n
}
