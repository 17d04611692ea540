/**
 * @module cc-executor/node (adapters/node/embed) — the Node pieces for hosts that embed the router
 * or the server: the settings, the real executor, the server, the socket channel.
 */
export { loadConfig, ConfigError, type Config } from './settings.ts'
export { LocalExecutor, type LocalExecutorOptions } from './local-executor.ts'
export { startNodeServer, type NodeServer } from './start-server.ts'
export { nodeChannel, type ChannelOptions } from './websocket.ts'
export { nodeClaudeRuntime } from './claude.ts'
