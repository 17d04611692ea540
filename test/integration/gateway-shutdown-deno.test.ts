import { gatewayShutdownSuite } from '../helpers/gateway-shutdown-suite.ts'

gatewayShutdownSuite('deno')
