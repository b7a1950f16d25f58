/**
 * Data health (src/runtime/stats.ts, metrics.ts): rates per output and dead-letter topic, the dead-letter and late
 * ratios over the records read from the sources, null counts per output field; in `RunStats.health` (run records)
 * and in the Prometheus exposition. No log: the counters are fed as the runtime feeds them.
 */
import { describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../../src/runtime/metrics.js';
import { RATE_WINDOW_SECONDS, RunStats } from '../../src/runtime/stats.js';

const topics = { sources: ['flights'], outputs: ['delays.v1'], deadLetterTopic: 'app.v1.dlq' };

function fed(): RunStats {
  const s = new RunStats();
  s.in('flights', 200);
  s.in('app.v1.by_route.repartition', 200); // internal topics are not the ratios' denominator
  for (let i = 0; i < 5; i++) s.deadLetter('validate');
  s.out('app.v1.dlq', 5);
  s.late('by_hour', 3);
  s.late('by_day', 1);
  s.out('delays.v1', 40);
  s.nullFields('delays.v1', { airport: 'SFO', avg_delay: null, flights: 3 }, ['airport', 'avg_delay', 'flights']);
  s.nullFields('delays.v1', { airport: 'LAX', flights: 1 }, ['airport', 'avg_delay', 'flights']);
  s.nullFields('delays.v1', { airport: null, avg_delay: 2.5, flights: 1 }, ['airport', 'avg_delay', 'flights']);
  return s;
}

describe('data health', () => {
  it('ratios are over the records read from the source topics; null counts per field, zeros included', () => {
    const h = fed().health(topics);
    expect(h.inputRecords).toBe(200);
    expect(h.deadLetterRatio).toBeCloseTo(5 / 200, 12);
    expect(h.lateRatio).toBeCloseTo(4 / 200, 12);
    expect(h.outputs['delays.v1'].records).toBe(40);
    expect(h.outputs['delays.v1'].nullCounts).toEqual({ airport: 1, avg_delay: 2, flights: 0 });
    expect(h.deadLetterTopics['app.v1.dlq'].records).toBe(5);
  });

  it('nothing read: ratios are 0, not NaN', () => {
    const h = new RunStats().health(topics);
    expect(h.deadLetterRatio).toBe(0);
    expect(h.lateRatio).toBe(0);
  });

  it('records per second: over the run for run records, over the last minute for metrics', () => {
    const s = new RunStats();
    const t0 = s.startedAtMs;
    s.out('delays.v1', 600, t0 + 1_000);
    s.out('delays.v1', 120, t0 + (RATE_WINDOW_SECONDS + 100) * 1_000);
    const now = t0 + (RATE_WINDOW_SECONDS + 100) * 1_000 + 500;
    // the 600 records are older than the window: only the last 120 count, over the whole window
    expect(s.recordsPerSecond('delays.v1', now)).toBeCloseTo(120 / RATE_WINDOW_SECONDS, 9);
    expect(s.health(topics, 'run', now).outputs['delays.v1'].recordsPerSecond).toBeCloseTo(
      720 / ((now - t0) / 1000),
      9,
    );
  });

  it('are exported as Prometheus metrics', async () => {
    const stats = fed();
    const m = new WorkerMetrics({
      versions: () => [{ name: 'app', version: 1, stats, stores: [], health: topics }],
      rebalances: () => 0,
      readiness: () => ({ ready: true, phase: 'running', tasks: [] }),
      lag: async () => [],
    });
    const text = await m.metrics();
    expect(text).toMatch(/^eddy_dead_letter_ratio\{topic="app.v1.dlq",version="1"\} 0.025$/m);
    expect(text).toMatch(/^eddy_late_ratio\{version="1"\} 0.02$/m);
    expect(text).toMatch(/^eddy_output_null_values_total\{topic="delays.v1",field="avg_delay",version="1"\} 2$/m);
    expect(text).toMatch(/^eddy_output_null_values_total\{topic="delays.v1",field="flights",version="1"\} 0$/m);
    expect(text).toMatch(/^eddy_output_records_per_second\{topic="delays.v1",version="1"\} \d/m);
    expect(text).toMatch(/^eddy_output_records_per_second\{topic="app.v1.dlq",version="1"\} \d/m);
  });
});
