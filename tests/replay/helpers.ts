/**
 * Versions of a small delays topology built in the tests with the DSL (examples/ is not edited): the same shape as
 * flight-delays (a window store per origin airport and hour, a key-value store per route through a repartition
 * topic, an output topic), with knobs for what a new version may change.
 */
import { join } from 'node:path';
import type { DelayStats, Flight } from '../../examples/flight-delays/types.js';
import { tumbling } from '../../src/processors/window.js';
import { loadSchemas } from '../../src/schema/load.js';
import type { AvroSchema } from '../../src/schema/types.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { packageRoot } from '../../src/util/paths.js';

export const SCHEMAS = loadSchemas(join(packageRoot(import.meta.url), 'schemas'));

export interface DelaysOptions {
  readonly name?: string;
  readonly version?: number;
  /** Input topic; default `flights`. */
  readonly flights?: string;
  /** A flight with a delay above this counts as delayed; default 15 (flight-delays v1). */
  readonly delayedMin?: number;
  readonly windowMs?: number;
  /** Adds a filter operator named "x" before the aggregations. */
  readonly extraFilter?: boolean;
  /** Adds a field `p60` (with a default) to the route store's value schema. */
  readonly p60?: boolean;
  readonly codeVersion?: string;
}

/** DelayStats with a `p60` field (flights delayed more than 60 min), default 0. */
export function statsWithP60(): AvroSchema {
  const s = SCHEMAS.get('DelayStats') as { fields: unknown[] };
  return { ...s, fields: [...s.fields, { name: 'p60', type: 'long', default: 0 }] };
}

export function delaysTopology(o: DelaysOptions = {}): Topology {
  const delayedMin = o.delayedMin ?? 15;
  const t = topology({ name: o.name ?? 'delays', version: o.version ?? 1, codeVersion: o.codeVersion });
  let flights = t.source<string, Flight>(o.flights ?? 'flights', { key: 'string', value: SCHEMAS.get('Flight')! });
  flights = flights.validate('validate', (f) => (f.delay < -120 || f.delay > 1800 ? 'delay out of range' : undefined));
  if (o.extraFilter) flights = flights.filter((f) => f.distance > 0, 'x');
  const add = (agg: DelayStats & { p60?: number }, f: Flight) => {
    agg.max_delay = agg.flights === 0 ? f.delay : Math.max(agg.max_delay, f.delay);
    agg.flights += 1;
    if (f.delay > delayedMin) agg.delayed += 1;
    agg.total_delay += f.delay;
    agg.avg_delay = agg.total_delay / agg.flights;
    if (o.p60 && f.delay > 60) agg.p60 = (agg.p60 ?? 0) + 1;
    return agg;
  };
  const empty = (): DelayStats & { p60?: number } => ({
    flights: 0,
    delayed: 0,
    total_delay: 0,
    max_delay: 0,
    avg_delay: 0,
    ...(o.p60 ? { p60: 0 } : {}),
  });
  const out = t.output<string, DelayStats>('delays-hourly', { key: 'string', value: SCHEMAS.get('DelayStats')! });
  flights
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: o.windowMs ?? 3_600_000 }))
    .aggregate('by_airport_hour', {
      value: SCHEMAS.get('DelayStats')!,
      keyName: 'airport',
      initializer: empty,
      aggregator: add,
    })
    .toStream((k, _w, agg) => ({ key: k, value: agg }), 'hourly-final')
    .to(out, 'to-hourly');
  flights
    .groupBy('route_stats', (r) => `${r.value.origin}-${r.value.destination}`, {
      key: 'string',
      value: SCHEMAS.get('Flight')!,
    })
    .aggregate('route_stats', {
      value: o.p60 ? statsWithP60() : SCHEMAS.get('DelayStats')!,
      keyName: 'route',
      initializer: empty,
      aggregator: add,
    });
  return t.build();
}
