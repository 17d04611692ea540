import { gatewaySuite } from '../helpers/gateway-suite.ts'
import { poolSuite } from '../helpers/pool-suite.ts'

poolSuite('workerd')
// The shared scenarios through a pool of two, exactly as through one executor.
gatewaySuite('workerd', { executors: 2 })
