import { gatewaySuite } from '../helpers/gateway-suite.ts'
import { poolSuite } from '../helpers/pool-suite.ts'

poolSuite('deno')
// The shared scenarios through a pool of two, exactly as through one executor.
gatewaySuite('deno', { executors: 2 })
