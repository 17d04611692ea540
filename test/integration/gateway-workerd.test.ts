import { gatewaySuite } from '../helpers/gateway-suite.ts'

gatewaySuite('workerd')
