/**
 * @module adapters/node/main — `npm start`: the server with its settings from env and flags (see
 * serve.ts, shared with `cc-executor serve`).
 */
import { serve } from './serve.ts'

await serve()
