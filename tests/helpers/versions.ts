/**
 * A small two-stage topology over the flight-delays input, built in any version with any "delayed" threshold, for
 * tests of several versions: per-origin hourly windows (emitted to an output topic) and per-route statistics through
 * a repartition topic. Version 1 counts delays `> 15` min as delayed; a version built with `delayedMin: 14` counts
 * `>= 15` (the FAA's rule), which changes `delayed` exactly for the flights delayed 15 minutes.
 */
import { join } from 'node:path';
import type { DelayStats, Flight } from '../../examples/flight-delays/types.js';
import { tumbling } from '../../src/processors/window.js';
import { loadSchemas } from '../../src/schema/load.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { packageRoot } from '../../src/util/paths.js';

export const HOUR_MS = 3_600_000;

function fold(agg: DelayStats, delay: number, delayedMin: number): DelayStats {
  agg.max_delay = agg.flights === 0 ? delay : Math.max(agg.max_delay, delay);
  agg.flights += 1;
  if (delay > delayedMin) agg.delayed += 1;
  agg.total_delay += delay;
  agg.avg_delay = agg.total_delay / agg.flights;
  return agg;
}

const empty = (): DelayStats => ({ flights: 0, delayed: 0, total_delay: 0, max_delay: 0, avg_delay: 0 });

/** Builds topology `name` (default `delays`) version `version` reading topic `flights`. */
export function buildDelays(version: number, delayedMin = 15, name = 'delays', flightsTopic = 'flights'): Topology {
  const s = loadSchemas(join(packageRoot(import.meta.url), 'schemas'));
  const t = topology({ name, version });
  const flights = t.source<string, Flight>(flightsTopic, { key: 'string', value: s.get('Flight')! });
  const hourly = t.output<string, DelayStats>(`${name}-hourly`, { key: 'string', value: s.get('DelayStats')! });
  const valid = flights.validate('validate', (f) =>
    f.delay < -120 || f.delay > 1800 ? `delay ${f.delay} out of range` : undefined,
  );
  valid
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: HOUR_MS, graceMs: 10 * 60_000 }))
    .aggregate<DelayStats>('by_origin_hour', {
      value: s.get('DelayStats')!,
      keyName: 'origin',
      initializer: empty,
      aggregator: (a, f) => fold(a, f.delay, delayedMin),
    })
    .toStream((origin, _w, agg) => ({ key: origin, value: agg }), 'hourly-final')
    .to(hourly, 'to-hourly');
  valid
    .groupBy('by_route', (r) => `${r.value.origin}-${r.value.destination}`, { key: 'string', value: s.get('Flight')! })
    .aggregate<DelayStats>('route_stats', {
      value: s.get('DelayStats')!,
      keyName: 'route',
      initializer: empty,
      aggregator: (a, f) => fold(a, f.delay, delayedMin),
    });
  return t.build();
}
