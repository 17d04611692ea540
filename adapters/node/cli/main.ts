/** @module adapters/node/cli/main — the entry bin/cc-executor.js loads: runs the command line. */
import { main } from './program.ts'

await main()
