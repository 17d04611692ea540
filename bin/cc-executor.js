#!/usr/bin/env node
/**
 * The `cc-executor` command. The CLI is TypeScript (adapters/node/cli/); this launcher registers tsx's
 * loader in this process (no child process, so signals and job control reach the CLI itself) and
 * loads it. Every path is resolved from this file's own location, never from the working directory,
 * so it works from a checkout (`npx cc-executor`) and when installed globally.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { register } from 'tsx/esm/api'

const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url))
register({ tsconfig: existsSync(tsconfig) ? tsconfig : false })
await import('../adapters/node/cli/main.ts')
