/**
 * @module adapters/node/main — the process entry of `npm start` (and the image's CMD): the server
 * with its settings from env and flags (server-process.ts, shared with `cc-executor serve`).
 */
import { runServerProcess } from './server-process.ts'

await runServerProcess()
