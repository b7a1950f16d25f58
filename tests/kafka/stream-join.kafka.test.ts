/**
 * The stream–stream join scenario of tests/runtime/stream-join.test.ts on the real broker and registry, under
 * exactly-once: two co-partitioned inputs read by one sub-topology's tasks, a second run restoring the join's stores
 * from their changelog topics; the outputs equal the test driver's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { topicConfigFor } from '../../src/topology/topic-config.js';
import {
  buildJoin,
  expectedJoin,
  joinInputs,
  PARTITIONS,
  produceJoinInputs,
  readJoinOutput,
} from '../helpers/stream-join.js';
import { uniqueName } from '../log/helpers.js';
import { kafkaEnv, kafkaLog, registry } from './helpers.js';

describe('stream-stream join on Kafka', () => {
  kafkaEnv();
  const ns = uniqueName('ssjoin');
  const S = { name: ns, orders: `${ns}-orders`, payments: `${ns}-payments`, output: `${ns}-paid` };
  const log = kafkaLog(ns);
  const reg = registry();
  const stateDir = mkdtempSync(join(tmpdir(), 'eddy-ssjoin-kafka-'));
  afterAll(async () => {
    await log.close();
    await reg.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('joins two co-partitioned topics exactly once and equals the test driver', async () => {
    const expected = await expectedJoin(S);
    const t = buildJoin(S);
    // Kept forever, as eddy's own inputs: the records are from 2024, older than the broker's default retention.
    await log.createTopics([
      { name: S.orders, partitions: PARTITIONS, config: topicConfigFor('source') },
      { name: S.payments, partitions: PARTITIONS, config: topicConfigFor('source') },
    ]);
    const { phase1, phase2 } = joinInputs(S);
    const run = () => new TopologyRunner(t, { log, registry: reg, stateDir, untilIdle: true }).run();
    await produceJoinInputs(log, reg, S, phase1);
    await run();
    rmSync(stateDir, { recursive: true, force: true });
    await produceJoinInputs(log, reg, S, phase2);
    await run();
    expect(await readJoinOutput(log, reg, S)).toEqual(expected);
  }, 300_000);
});
