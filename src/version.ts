/** @module version — the service version reported by `connected` and /health. */
export const VERSION = '0.1.0'
