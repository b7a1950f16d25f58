/**
 * Topic retention on a real broker (issue 9, item 1). The test broker runs its retention check every 2 s
 * (`log.retention.check.interval.ms`, scripts/kafka-local), so a topic that keeps the broker's default 7-day
 * `retention.ms` loses records with old event times within seconds. Shown here: the topics eddy creates keep
 * everything through a full flight-delays run (event times from 2001) past retention checks; `checkRetention`
 * refuses time retention on eddy's own topics and warns for inputs; a consumer whose committed offset fell below
 * the log start fails with `RecordsDeletedError` naming the lost offsets instead of skipping ahead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays, flightTopics } from '../../examples/flight-delays/topology.js';
import { ConfigError, RecordsDeletedError } from '../../src/errors.js';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import type { KafkaLog } from '../../src/log/kafka/index.js';
import { readStore } from '../../src/runtime/inspect.js';
import { checkRetention } from '../../src/runtime/retention.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import type { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import { topicConfigFor } from '../../src/topology/topic-config.js';
import { type Expected, expectedResults } from '../helpers/flights.js';
import { rec, uniqueName } from '../log/helpers.js';
import { kafkaLog, registry } from './helpers.js';

const LIMIT = 20_000;
/** 2001-01-01T00:00:00Z: older than any default retention. */
const OLD_MS = Date.UTC(2001, 0, 1);

describe('retention: a full flight-delays run on a broker that applies retention every 2 s', () => {
  const namespace = uniqueName('fdr').replace(/-\d+$/, '');
  const topology = buildFlightDelays({ namespace });
  const topics = flightTopics(namespace);
  const control = `${namespace}.control-default-retention`;
  let log: KafkaLog;
  let reg: ConfluentSchemaRegistry;
  let stateDir: string;
  let expected: Expected;

  beforeAll(async () => {
    log = kafkaLog(namespace);
    reg = registry();
    stateDir = mkdtempSync(join(tmpdir(), 'eddy-retention-'));
    expected = await expectedResults(LIMIT);
    await loadFlightData({ log, registry: reg, limit: LIMIT, topics });
    await new TopologyRunner(topology, { log, registry: reg, stateDir, untilIdle: true }).run();
    // A control topic with the broker's default retention and event times from 2001: once its log start moved, the
    // broker has run a retention check after the run (a deterministic "wait past a retention check").
    await log.createTopics([{ name: control, partitions: 1 }]);
    await log.producer().send([0, 1, 2].map((i) => rec(control, 0, `k${i}`, `v${i}`, OLD_MS + i)));
    const deadline = Date.now() + 120_000;
    while ((await log.offsets(control))[0].low === 0) {
      if (Date.now() > deadline) throw new Error(`the broker never applied retention to ${control}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 400_000);

  afterAll(async () => {
    await log?.close();
    await reg?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('the control topic (default retention, event times from 2001) lost its records', async () => {
    const [o] = await log.offsets(control);
    expect(o.low).toBe(3);
    expect((await log.describeTopic(control))!.retentionMs).toBe(604_800_000);
  });

  it('topics eddy creates keep records forever: retention.ms=-1, changelogs compacted', async () => {
    for (const info of topology.topics.values()) {
      const d = await log.describeTopic(info.name);
      expect(d, info.name).toBeDefined();
      expect(d!.retentionMs, `${info.role} ${info.name}`).toBe(-1);
      expect(d!.compacted, `${info.role} ${info.name}`).toBe(info.role === 'changelog' || info.role === 'global');
      expect(d!.maxMessageBytes).toBeGreaterThan(0);
    }
    for (const name of [topics.flights, topics.airports]) expect((await log.describeTopic(name))!.retentionMs).toBe(-1);
  });

  it('nothing was deleted: every partition of the inputs, outputs, dead letters and changelogs starts at offset 0', async () => {
    // repartition topics are left out: the runtime purges them with deleteRecords once committed downstream (their
    // records all arrived: route_stats, computed behind the repartition, is exact below)
    const names = [...topology.topics.values()].filter((i) => i.role !== 'repartition').map((i) => i.name);
    for (const name of names) for (const o of await log.offsets(name)) expect(o.low, `${name}:${o.partition}`).toBe(0);
  });

  it('outputs, dead letters and stores equal the independent count', async () => {
    const routeRows = await readStore({
      stateDir,
      topology,
      store: topology.stores.get('route_stats')!,
      registry: reg,
    });
    const got = new Map(routeRows.map(({ route, ...stats }) => [String(route), stats]));
    expect(got.size).toBe(expected.routes.size);
    for (const [k, s] of expected.routes) expect(got.get(k), k).toEqual(s);
    let deadLetters = 0;
    for (const o of await log.offsets(topology.deadLetterTopic)) {
      for await (const b of log.read({ topic: topology.deadLetterTopic, partition: o.partition }))
        deadLetters += b.length;
    }
    expect(deadLetters).toBe(expected.badDelay + expected.unknownAirport);
    const outTopic = [...topology.topics.values()].find((x) => x.role === 'output')!.name;
    let outputs = 0;
    for (const o of await log.offsets(outTopic)) {
      for await (const b of log.read({ topic: outTopic, partition: o.partition })) outputs += b.length;
    }
    // each closed window once (the last open windows are not emitted); a deleted output would drop below this
    expect(outputs).toBeGreaterThan(expected.hourly.size * 0.9);
    expect(outputs).toBeLessThan(expected.hourly.size);
  });

  it('checkRetention: nothing to say about eddy topics; warns for an input and refuses an own topic with time retention', async () => {
    const all = [...topology.topics.values()].map((i) => ({ name: i.name, role: i.role }));
    expect(await checkRetention(log, [...all, { name: topics.flights, role: 'source' }])).toEqual([]);
    const warnings = await checkRetention(log, [{ name: control, role: 'source' }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(control);
    expect(warnings[0]).toContain('retention.ms=-1');
    const refused = await checkRetention(log, [...all, { name: control, role: 'output' }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toContain(`output topic "${control}": retention.ms=604800000 ms (7 days)`);
    expect((refused as Error).message).toContain(`--entity-name ${control} --add-config retention.ms=-1`);
  });
});

describe('retention: records deleted below a position fail loudly', () => {
  let log: KafkaLog;
  beforeAll(() => {
    log = kafkaLog(uniqueName('ret'));
  });
  afterAll(() => log?.close());

  it('a consumer whose committed offset is below the log start fails with RecordsDeletedError naming the lost offsets', async () => {
    const t = uniqueName('t-ret-lost');
    const groupId = uniqueName('g-ret-lost');
    await log.createTopics([{ name: t, partitions: 1 }]);
    await log.producer().send(Array.from({ length: 30 }, (_, i) => rec(t, 0, `k${i}`, `v${i}`)));
    await log.commitOffsets(groupId, [{ topic: t, partition: 0, offset: 10 }]);
    await log.deleteRecords({ topic: t, partition: 0 }, 25);
    const delivered: number[] = [];
    const consumer = log.consumer({ groupId, topics: [t] });
    const err = await consumer
      .run({
        async eachBatch(b) {
          for (const r of b.records) delivered.push(r.offset);
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RecordsDeletedError);
    expect((err as RecordsDeletedError).details).toEqual({
      topic: t,
      partition: 0,
      position: 10,
      logStart: 25,
      lost: 15,
    });
    expect((err as Error).message).toContain(`records 10..24 of ${t}:0 were deleted before they were read`);
    expect(delivered).toEqual([]);
  });
});

describe('retention: records deleted under a delivering consumer', () => {
  let log: KafkaLog;
  beforeAll(() => {
    log = kafkaLog(uniqueName('ret-live'));
  });
  afterAll(() => log?.close());

  it('records deleted past the position of a running member (kafkajs resets the fetch itself) fail it with RecordsDeletedError', async () => {
    const t = uniqueName('t-ret-live');
    await log.createTopics([{ name: t, partitions: 1, config: { 'retention.ms': '-1' } }]);
    await log.producer().send(Array.from({ length: 10 }, (_, i) => rec(t, 0, `k${i}`, `v${i}`)));
    const delivered: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let firstBatch!: () => void;
    const first = new Promise<void>((r) => {
      firstBatch = r;
    });
    const consumer = log.consumer({ groupId: uniqueName('g-ret-live'), topics: [t] });
    const done = consumer.run({
      async eachBatch(b) {
        for (const r of b.records) delivered.push(r.offset);
        firstBatch();
        await held; // records 10..19 arrive and 10..14 are deleted while this batch is handled
      },
    });
    done.catch(() => undefined);
    await first;
    await log.producer().send(Array.from({ length: 10 }, (_, i) => rec(t, 0, `k${10 + i}`, `v${10 + i}`)));
    await log.deleteRecords({ topic: t, partition: 0 }, 15);
    release();
    const err = await done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RecordsDeletedError);
    expect((err as RecordsDeletedError).details).toEqual({
      topic: t,
      partition: 0,
      position: 10,
      logStart: 15,
      lost: 5,
    });
    expect(delivered).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });
});

describe('retention: topic configs and the embedded log', () => {
  it('topicConfigFor gives every role no time retention, compaction to changelogs and table topics, overrides on top', () => {
    expect(topicConfigFor('changelog')).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '-1' });
    expect(topicConfigFor('global')).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '-1' });
    for (const role of ['output', 'dlq', 'repartition', 'source'] as const)
      expect(topicConfigFor(role)).toEqual({ 'retention.ms': '-1' });
    expect(topicConfigFor('output', { 'retention.ms': '86400000', 'max.message.bytes': '2097152' })).toEqual({
      'retention.ms': '86400000',
      'max.message.bytes': '2097152',
    });
  });

  it('checkRetention has nothing to say on the embedded log (no time retention there)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-retention-embedded-'));
    const log = EmbeddedLog.open(join(dir, 'log.db'));
    try {
      await log.createTopics([{ name: 'out', partitions: 1, config: { 'retention.ms': '1000' } }]);
      expect((await log.describeTopic('out'))?.retentionMs).toBeUndefined();
      expect(
        await checkRetention(log, [
          { name: 'out', role: 'output' },
          { name: 'missing', role: 'source' },
        ]),
      ).toEqual([]);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
