import { gatewaySuite } from '../helpers/gateway-suite.ts'

gatewaySuite('deno')
