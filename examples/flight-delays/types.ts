/**
 * TypeScript shapes of the flight-delays schemas: generated from `schemas/*.avsc` and `schemas/v2/*.avsc` by
 * `eddy schemas codegen` (src/generated). Re-exported here for older imports; import the generated modules directly.
 */
export type { Airport, AirportHourDelay, DelayStats, EnrichedFlight, Flight } from '../../src/generated/schemas.js';
export type * as V2 from '../../src/generated/schemas-v2.js';
