/**
 * The flight-delays topology: validate -> enrich -> delays per origin airport and hour (window store, emitted to
 * `airport-delays-hourly.v<N>`) and delay statistics per route (key-value store, through a repartition topic).
 * Input: topic `flights` (key: origin IATA code) and compacted topic `airports` (key: IATA code).
 *
 * Version 1 counts a flight as delayed when its delay is above 15 minutes. Version 2 follows the FAA (15 minutes
 * or more), adds the count and share of flights delayed 60 minutes or more (`delayed_60`, `share_delayed_60`: new
 * fields with defaults in the store and output value schemas, `schemas/v2/`), and reads flights with the Flight
 * schema version 2 (a new optional field `source_row`; records written before it read with its default, null).
 */
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import type { Airport, AirportHourDelay, DelayStats, EnrichedFlight, Flight } from '../../src/generated/schemas.js';
import type * as V2 from '../../src/generated/schemas-v2.js';
import { tumbling } from '../../src/processors/window.js';
import { loadSchemas } from '../../src/schema/load.js';
import type { AvroSchema } from '../../src/schema/types.js';
import { type GlobalTable, type OutputTopic, type Stream, topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { packageRoot } from '../../src/util/paths.js';

/** Version 1 counts a delay above this many minutes as delayed; version 2 counts this many minutes or more (FAA). */
export const DELAYED_MIN = 15;
/** Version 2 also counts flights delayed this many minutes or more (`delayed_60`). */
export const LONG_DELAY_MIN = 60;
/** Valid delays, in minutes; flights outside go to the dead-letter topic. */
export const MIN_DELAY = -120;
export const MAX_DELAY = 1800;
export const HOUR_MS = 3_600_000;

/** Version 1: folds one flight's delay into delay statistics (mutates and returns `agg`); delayed = `> 15` min. */
export function addDelay(agg: DelayStats, delay: number): DelayStats {
  agg.max_delay = agg.flights === 0 ? delay : Math.max(agg.max_delay, delay);
  agg.flights += 1;
  if (delay > DELAYED_MIN) agg.delayed += 1;
  agg.total_delay += delay;
  agg.avg_delay = agg.total_delay / agg.flights;
  return agg;
}

/** Empty delay statistics. */
export function emptyStats(): DelayStats {
  return { flights: 0, delayed: 0, total_delay: 0, max_delay: 0, avg_delay: 0 };
}

/**
 * Version 2: folds one flight's delay into delay statistics (mutates and returns `agg`): delayed = `>= 15` min (the
 * FAA's definition), and the count and share of flights delayed 60 min or more.
 */
export function addDelayV2(agg: V2.DelayStats, delay: number): V2.DelayStats {
  agg.max_delay = agg.flights === 0 ? delay : Math.max(agg.max_delay, delay);
  agg.flights += 1;
  if (delay >= DELAYED_MIN) agg.delayed += 1;
  if (delay >= LONG_DELAY_MIN) agg.delayed_60 += 1;
  agg.total_delay += delay;
  agg.avg_delay = agg.total_delay / agg.flights;
  agg.share_delayed_60 = agg.delayed_60 / agg.flights;
  return agg;
}

/** Empty delay statistics of version 2. */
export function emptyStatsV2(): V2.DelayStats {
  // One literal, not a spread of `emptyStats()`: V8 gives objects of one literal one hidden class; a spread of
  // another version's literal, extended, sent v2's aggregates to slow (dictionary) properties.
  return { flights: 0, delayed: 0, total_delay: 0, max_delay: 0, avg_delay: 0, delayed_60: 0, share_delayed_60: 0 };
}

/** Options of `buildFlightDelays`. */
export interface FlightDelaysOptions {
  /** Directory of the `.avsc` files; default `schemas/` of the eddy package. */
  readonly schemasDir?: string;
  /**
   * Prefix for the topology name, its input topics and its outputs (`<ns>-flight-delays`, `<ns>-flights`,
   * `<ns>-airports`, `<ns>-airport-delays-hourly.v1`), so that several copies can share one Kafka cluster (tests).
   */
  readonly namespace?: string;
  /** 1 (default) or 2 (see the module doc). */
  readonly version?: 1 | 2;
}

/** The input topic names of flight-delays under a namespace. */
export function flightTopics(namespace?: string): { flights: string; airports: string } {
  const p = namespace ? `${namespace}-` : '';
  return { flights: `${p}flights`, airports: `${p}airports` };
}

/**
 * The statistics every version keeps, over the enriched flights: per origin airport and hour (a window store, its
 * final windows emitted to `hourly`) and per route (a key-value store, through a repartition topic). The versions
 * differ only in the statistics record (`empty`, `add`) and its schemas.
 */
function delayStatistics<S extends DelayStats>(
  enriched: Stream<string, EnrichedFlight>,
  s: ReadonlyMap<string, AvroSchema>,
  hourly: OutputTopic<string, S & { airport: string; window_start: number; window_end: number }>,
  empty: () => S,
  add: (agg: S, delayMin: number) => S,
): void {
  enriched
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: HOUR_MS, graceMs: 10 * 60_000 }))
    .aggregate<S>('delays_by_airport_hour', {
      value: s.get('DelayStats')!,
      keyName: 'airport',
      initializer: empty,
      aggregator: (agg, f) => add(agg, f.delay),
    })
    .toStream(
      (airport, w, agg) => ({ key: airport, value: { airport, window_start: w.startMs, window_end: w.endMs, ...agg } }),
      'hourly-final',
    )
    .to(hourly, 'to-airport-delays-hourly');

  enriched
    .groupBy('route_stats', (r) => `${r.value.origin}-${r.value.destination}`, {
      key: 'string',
      value: s.get('EnrichedFlight')!,
    })
    .aggregate<S>('route_stats', {
      value: s.get('DelayStats')!,
      keyName: 'route',
      initializer: empty,
      aggregator: (agg, f) => add(agg, f.delay),
    });
}

/**
 * Validation and enrichment, the same in every version: delays outside [MIN_DELAY, MAX_DELAY] and unknown airports go
 * to the dead-letter topic; origin and destination cities and states are joined from the airports table.
 */
function enrich(
  flights: Stream<string, Flight>,
  airports: GlobalTable<string, Airport>,
): Stream<string, EnrichedFlight> {
  return flights
    .validate('validate', (f) =>
      f.delay < MIN_DELAY || f.delay > MAX_DELAY
        ? `delay ${f.delay} min outside [${MIN_DELAY}, ${MAX_DELAY}]`
        : undefined,
    )
    .join(
      airports,
      (r) => r.value.origin,
      (f, a): EnrichedFlight => ({
        date: f.date,
        delay: f.delay,
        distance: f.distance,
        origin: f.origin,
        destination: f.destination,
        origin_city: a.city,
        origin_state: a.state,
        dest_city: null,
        dest_state: null,
      }),
      { name: 'enrich-origin', onMissing: 'dead-letter' },
    )
    .join(
      airports,
      (r) => r.value.destination,
      (f, a): EnrichedFlight => {
        f.dest_city = a.city;
        f.dest_state = a.state;
        return f;
      },
      { name: 'enrich-destination', onMissing: 'dead-letter' },
    );
}

/** Builds flight-delays: version 1 unless `opts.version` is 2. */
export function buildFlightDelays(opts: FlightDelaysOptions = {}): Topology {
  if (opts.version === 2) return buildV2(opts);
  if (opts.version !== undefined && opts.version !== 1) {
    throw new ConfigError(`flight-delays has versions 1 and 2, not ${String(opts.version)}.`, {
      version: opts.version,
    });
  }
  const s = loadSchemas(opts.schemasDir ?? join(packageRoot(import.meta.url), 'schemas'));
  const p = opts.namespace ? `${opts.namespace}-` : '';
  const topics = flightTopics(opts.namespace);
  const t = topology({
    name: `${p}flight-delays`,
    version: 1,
    description: 'US flight delays per airport-hour and per route',
  });

  const flights = t.source<string, Flight>(topics.flights, { key: 'string', value: s.get('Flight')! });
  const airports = t.globalTable<string, Airport>('airports', topics.airports, {
    key: 'string',
    value: s.get('Airport')!,
  });
  const hourly = t.output<string, AirportHourDelay>(`${p}airport-delays-hourly`, {
    key: 'string',
    value: s.get('AirportHourDelay')!,
  });

  const enriched = enrich(flights, airports);

  delayStatistics(enriched, s, hourly, emptyStats, addDelay);

  return t.build();
}

/**
 * Version 2. The same graph, operator, store and topic names as version 1 (topics under `.v2`); differences: the
 * delayed rule (`>= 15`), the new statistics, and the v2 schemas of `schemas/v2/` (Flight, DelayStats,
 * AirportHourDelay) over those of `schemas/`.
 */
function buildV2(opts: FlightDelaysOptions): Topology {
  const dir = opts.schemasDir ?? join(packageRoot(import.meta.url), 'schemas');
  const s = new Map([...loadSchemas(dir), ...loadSchemas(join(dir, 'v2'))]);
  const p = opts.namespace ? `${opts.namespace}-` : '';
  const topics = flightTopics(opts.namespace);
  const t = topology({
    name: `${p}flight-delays`,
    version: 2,
    description: 'US flight delays per airport-hour and per route',
  });

  const flights = t.source<string, V2.Flight>(topics.flights, { key: 'string', value: s.get('Flight')! });
  const airports = t.globalTable<string, Airport>('airports', topics.airports, {
    key: 'string',
    value: s.get('Airport')!,
  });
  const hourly = t.output<string, V2.AirportHourDelay>(`${p}airport-delays-hourly`, {
    key: 'string',
    value: s.get('AirportHourDelay')!,
  });

  const enriched = enrich(flights, airports);

  delayStatistics(enriched, s, hourly, emptyStatsV2, addDelayV2);

  return t.build();
}

/** Both versions, oldest first (the multi-version shape a module may default-export): `[v1, v2]`. */
export const flightDelaysVersions = (opts: Omit<FlightDelaysOptions, 'version'> = {}): Topology[] => [
  buildFlightDelays({ ...opts, version: 1 }),
  buildFlightDelays({ ...opts, version: 2 }),
];

export default buildFlightDelays;
