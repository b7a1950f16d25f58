/**
 * Session and sliding windows on the real broker: the activity topology (tests/topology/session-topology.ts) run by
 * the runtime on Kafka under exactly-once, its outputs equal to the TopologyTestDriver's, record for record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { TopologyTestDriver } from '../../src/testing/driver.js';
import { uniqueName } from '../log/helpers.js';
import { ACTIVITY, type Activity, activityTopology, MINUTE } from '../topology/session-topology.js';
import { kafkaLog, registry } from './helpers.js';

const T0 = Date.parse('2024-01-01T00:00:00Z');
const EVENTS: [string, number][] = [
  ['u1', 0],
  ['u1', 2],
  ['u2', 3],
  ['u1', 9],
  ['u1', 5],
  ['u2', 12],
  ['u1', 40],
  ['u1', 20],
  ['u2', 100],
];

describe('session and sliding windows on Kafka', () => {
  it('the runtime on the broker emits what the test driver does (final and update)', async () => {
    for (const emit of ['final', 'update'] as const) {
      const ns = uniqueName('sess').replace(/-\d+$/, '');
      const t = activityTopology({ ns, graceMs: 5 * MINUTE, emit });
      const source = `${ns}-activity`;
      const input = EVENTS.map(([user, m], i) => ({
        topic: source,
        key: user,
        value: { page: `p${i}` } satisfies Activity,
        timestampMs: T0 + m * MINUTE,
      }));
      const log = kafkaLog(ns);
      const reg = registry();
      const stateDir = mkdtempSync(join(tmpdir(), 'eddy-sessions-kafka-'));
      try {
        // event times from 2024: keep them past the broker's time retention
        await log.createTopics([{ name: source, partitions: 1, config: { 'retention.ms': '-1' } }]);
        const key = await AvroSerde.create<string>(reg, `${source}-key`, 'string');
        const value = await AvroSerde.create<Activity>(reg, `${source}-value`, ACTIVITY);
        const producer = log.producer();
        await producer.send(
          input.map((r) => ({
            topic: source,
            partition: 0,
            key: key.serialize(r.key),
            value: value.serialize(r.value),
            timestamp: r.timestampMs,
          })),
        );
        await producer.close();
        await new TopologyRunner(t, { log, registry: reg, stateDir, untilIdle: true, maxBatchRecords: 4 }).run();
        const d = await TopologyTestDriver.create(t);
        try {
          await d.pipeInputs(input);
          for (const topic of [`${ns}-sessions.v1`, `${ns}-sliding.v1`]) {
            const keySerde = await AvroSerde.reader<string>(reg, `${topic}-key`, 'string');
            const valueSerde = await AvroSerde.reader<unknown>(
              reg,
              `${topic}-value`,
              t.topics.get(topic)!.valueSchema!,
            );
            const got: unknown[] = [];
            for await (const b of log.read({ topic, partition: 0 }))
              for (const r of b) {
                await keySerde.prepare([AvroSerde.schemaIdOf(r.key!)]);
                // a merged session's retraction (emit 'update') is a tombstone: a null value
                if (r.value !== null) await valueSerde.prepare([AvroSerde.schemaIdOf(r.value)]);
                got.push([
                  keySerde.deserialize(r.key!),
                  r.value === null ? null : valueSerde.deserialize(r.value),
                  r.timestamp,
                ]);
              }
            const want = d.readOutput(topic).map((o) => [o.key, o.value, o.timestamp]);
            expect(want.length).toBeGreaterThan(0);
            expect(got).toEqual(want);
          }
        } finally {
          await d.close();
        }
      } finally {
        await log.close();
        rmSync(stateDir, { recursive: true, force: true });
      }
    }
  }, 180_000);
});
