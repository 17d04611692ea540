import { gatewayShutdownSuite } from '../helpers/gateway-shutdown-suite.ts'

gatewayShutdownSuite('bun')
