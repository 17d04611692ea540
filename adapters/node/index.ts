/** @module cc-executor/node — the Node pieces for hosts that embed the router: the real executor and the socket channel. */
export { loadConfig, ConfigError, type Config } from './config.ts'
export { LocalExecutor, type LocalExecutorOptions } from './local-executor.ts'
export { startNodeServer, type NodeServer } from './server.ts'
export { nodeChannel, type ChannelOptions } from './websocket.ts'
export { nodeClaudeRuntime } from './claude.ts'
