/**
 * The flight-delays topology, version 1: validate -> enrich -> delays per origin airport and hour (window store,
 * emitted to `airport-delays-hourly.v1`) and delay statistics per route (key-value store, through a repartition
 * topic). Input: topic `flights` (key: origin IATA code) and compacted topic `airports` (key: IATA code).
 */
import { join } from 'node:path';
import { tumbling } from '../../src/processors/window.js';
import { loadSchemas } from '../../src/schema/load.js';
import type { Topology } from '../../src/topology/graph.js';
import { topology } from '../../src/topology/builder.js';
import { packageRoot } from '../../src/util/paths.js';
import type { Airport, AirportHourDelay, DelayStats, EnrichedFlight, Flight } from './types.js';

/** A delay above this many minutes counts a flight as delayed (the FAA's definition). */
export const DELAYED_MIN = 15;
/** Valid delays, in minutes; flights outside go to the dead-letter topic. */
export const MIN_DELAY = -120;
export const MAX_DELAY = 1800;
export const HOUR_MS = 3_600_000;

/** Folds one flight's delay into delay statistics (mutates and returns `agg`). */
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

/** Options of `buildFlightDelays`. */
export interface FlightDelaysOptions {
  /** Directory of the `.avsc` files; default `schemas/` of the eddy package. */
  readonly schemasDir?: string;
  /**
   * Prefix for the topology name, its input topics and its outputs (`<ns>-flight-delays`, `<ns>-flights`,
   * `<ns>-airports`, `<ns>-airport-delays-hourly.v1`), so that several copies can share one Kafka cluster (tests).
   */
  readonly namespace?: string;
}

/** The input topic names of flight-delays under a namespace. */
export function flightTopics(namespace?: string): { flights: string; airports: string } {
  const p = namespace ? `${namespace}-` : '';
  return { flights: `${p}flights`, airports: `${p}airports` };
}

/** Builds flight-delays v1. */
export function buildFlightDelays(opts: FlightDelaysOptions = {}): Topology {
  const s = loadSchemas(opts.schemasDir ?? join(packageRoot(import.meta.url), 'schemas'));
  const p = opts.namespace ? `${opts.namespace}-` : '';
  const topics = flightTopics(opts.namespace);
  const t = topology({ name: `${p}flight-delays`, version: 1, description: 'US flight delays per airport-hour and per route' });

  const flights = t.source<string, Flight>(topics.flights, { key: 'string', value: s.get('Flight')! });
  const airports = t.globalTable<string, Airport>('airports', topics.airports, { key: 'string', value: s.get('Airport')! });
  const hourly = t.output<string, AirportHourDelay>(`${p}airport-delays-hourly`, { key: 'string', value: s.get('AirportHourDelay')! });

  const enriched = flights
    .validate('validate', (f) => (f.delay < MIN_DELAY || f.delay > MAX_DELAY ? `delay ${f.delay} min outside [${MIN_DELAY}, ${MAX_DELAY}]` : undefined))
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

  enriched
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: HOUR_MS, graceMs: 10 * 60_000 }))
    .aggregate<DelayStats>('delays_by_airport_hour', {
      value: s.get('DelayStats')!,
      keyName: 'airport',
      initializer: emptyStats,
      aggregator: (agg, f) => addDelay(agg, f.delay),
    })
    .toStream((airport, w, agg) => ({ key: airport, value: { airport, window_start: w.startMs, window_end: w.endMs, ...agg } }), 'hourly-final')
    .to(hourly, 'to-airport-delays-hourly');

  enriched
    .groupBy('route_stats', (r) => `${r.value.origin}-${r.value.destination}`, { key: 'string', value: s.get('EnrichedFlight')! })
    .aggregate<DelayStats>('route_stats', {
      value: s.get('DelayStats')!,
      keyName: 'route',
      initializer: emptyStats,
      aggregator: (agg, f) => addDelay(agg, f.delay),
    });

  return t.build();
}

export default buildFlightDelays;
