/**
 * Event time from the record: a source can take event time from a field of the value (ms or ISO-8601) or a function,
 * instead of the log timestamp; windows follow it, and a record whose event time cannot be read is dead-lettered.
 * Runs through the test driver and through the runtime on the embedded log: both must agree.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { tumbling } from '../../src/processors/window.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { TopologyTestDriver } from '../../src/testing/driver.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';

const READING = {
  type: 'record',
  name: 'Reading',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'at', type: 'string' },
    { name: 'value', type: 'int' },
  ],
};
const SUM = { type: 'record', name: 'Sum', fields: [{ name: 'total', type: 'long' }] };
interface Reading {
  sensor: string;
  at: string;
  value: number;
}

function build(): Topology {
  const t = topology({ name: 'sensors', version: 1 });
  t.source<string, Reading>('readings', { key: 'string', value: READING, timestamp: 'at' })
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: 60_000, graceMs: 0 }))
    .aggregate<{ total: number }>('per_minute', {
      value: SUM,
      initializer: () => ({ total: 0 }),
      aggregator: (a, r) => ({ total: a.total + r.value }),
    });
  return t.build();
}

const readings: Reading[] = [
  { sensor: 's1', at: '2001-01-01T00:00:10Z', value: 1 },
  { sensor: 's1', at: '2001-01-01T00:00:50Z', value: 2 },
  { sensor: 's1', at: '2001-01-01T00:01:05Z', value: 4 },
  { sensor: 's1', at: 'not a time', value: 8 },
];
const MINUTE0 = Date.parse('2001-01-01T00:00:00Z');

describe('event time from a field of the value', () => {
  it('windows by the field, not the log timestamp; an unreadable time is dead-lettered (test driver)', async () => {
    const d = await TopologyTestDriver.create(build());
    try {
      // every record arrives with log timestamp 0: only the field can put them in 2001
      await d.pipeInputs(readings.map((r) => ({ topic: 'readings', key: r.sensor, value: r, timestampMs: 0 })));
      // minute 0 closed (and left the store: retention = size + grace) when 00:01:05 arrived
      expect(d.windowStore('per_minute').get('s1', MINUTE0)).toBeUndefined();
      expect(d.windowStore('per_minute').get('s1', MINUTE0 + 60_000)).toEqual({ total: 4 });
      const dead = d.readDeadLetters();
      expect(dead).toHaveLength(1);
      expect(dead[0].reason).toContain('event time: field "at" is "not a time"');
    } finally {
      await d.close();
    }
  });

  const env = tempBackend('eddy-event-time-');
  afterAll(() => env.destroy());

  it('the runtime on the embedded log agrees', async () => {
    const t = build();
    await env.log.createTopics([{ name: 'readings', partitions: 1 }]);
    const key = await AvroSerde.create<string>(env.registry, 'readings-key', 'string');
    const value = await AvroSerde.create<Reading>(env.registry, 'readings-value', READING);
    const producer = env.log.producer();
    await producer.send(
      readings.map((r) => ({
        topic: 'readings',
        partition: 0,
        key: key.serialize(r.sensor),
        value: value.serialize(r),
        timestamp: 0,
      })),
    );
    await producer.close();
    await new TopologyRunner(t, {
      log: env.log,
      registry: env.registry,
      stateDir: env.stateDir,
      untilIdle: true,
    }).run();
    const rows = await readStore({
      stateDir: env.stateDir,
      topology: t,
      store: t.stores.get('per_minute')!,
      registry: env.registry,
    });
    // the closed minute 0 left the store (retention = size + grace); minute 1 is open
    expect(rows.map((r) => [r.window_start, r.total])).toEqual([['2001-01-01T00:01:00.000Z', 4]]);
    let dead = 0;
    for await (const b of env.log.read({ topic: t.deadLetterTopic, partition: 0 })) dead += b.length;
    expect(dead).toBe(1);
  });
});
