/**
 * The `embedded-log` engine of golden tests: the real runtime (`TopologyRunner`, exactly-once) on a fresh embedded
 * log and local registry in a temporary folder, removed afterwards. Slower than the test driver; use it to check
 * that the driver and the runtime agree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { ProducerRecord } from '../log/contract.js';
import { EmbeddedLog } from '../log/embedded/index.js';
import { partitionFor } from '../log/partitioner.js';
import { readStore } from '../runtime/inspect.js';
import { TopologyRunner } from '../runtime/runner.js';
import { AvroSerde } from '../schema/avro-serde.js';
import { LocalSchemaRegistry } from '../schema/local-registry.js';
import type { Topology } from '../topology/graph.js';
import { type GoldenCase, type GoldenOutputs, readGoldenInput, timestampOf } from './golden.js';
import { deadLetterRow, outputRow, REGISTRY_PLACEHOLDER } from './rows.js';

/** Runs a golden case through the runtime on a temporary embedded log; see `runGoldenCase`. */
export async function runOnEmbeddedLog(
  dir: string,
  spec: GoldenCase,
  topology: Topology,
  replace: readonly (readonly [string, string])[],
): Promise<GoldenOutputs> {
  const dataDir = mkdtempSync(join(tmpdir(), 'eddy-golden-'));
  const logPath = join(dataDir, 'log.db');
  const stateDir = join(dataDir, 'state');
  const log = new EmbeddedLog(logPath);
  const registry = LocalSchemaRegistry.open(logPath);
  try {
    // The topology's inputs the case gives no file for exist empty, as the test driver has them (an empty table, a
    // source with no records): both engines run the same case alike instead of this one failing on an unknown topic.
    const given = new Set(spec.inputs.map((i) => i.topic));
    const missing = [...topology.topics.values()]
      .filter((t) => (t.role === 'source' || t.role === 'global') && !given.has(t.name))
      .map((t) => ({
        name: t.name,
        partitions: t.role === 'global' ? 1 : (spec.inputs[0]?.partitions ?? 1),
        compacted: t.role === 'global',
      }));
    await log.createTopics([
      ...spec.inputs.map((i) => ({ name: i.topic, partitions: i.partitions ?? 1, compacted: i.compacted })),
      ...missing,
    ]);
    const producer = log.producer();
    try {
      for (const input of spec.inputs) {
        const info = topology.topics.get(input.topic);
        if (info?.keySchema === undefined || info.valueSchema === undefined)
          throw new ConfigError(`golden case ${dir}: "${input.topic}" is not an input of ${topology.name}`, {
            topic: input.topic,
          });
        const key = await AvroSerde.create<unknown>(registry, `${input.topic}-key`, info.keySchema);
        const value = await AvroSerde.create<unknown>(registry, `${input.topic}-value`, info.valueSchema);
        const records: ProducerRecord[] = readGoldenInput(dir, input).map((line) => {
          const k = key.serialize(line.key);
          const v =
            line.valueHex !== undefined
              ? Buffer.from(line.valueHex, 'hex')
              : line.value === null
                ? null
                : value.serialize(line.value);
          return {
            topic: input.topic,
            partition: partitionFor(k, input.partitions ?? 1),
            key: k,
            value: v,
            timestamp: timestampOf(line, input),
          };
        });
        await producer.send(records);
      }
    } finally {
      await producer.close();
    }
    await new TopologyRunner(topology, {
      log,
      registry,
      stateDir,
      untilIdle: true,
      maxBatchRecords: spec.maxBatchRecords,
    }).run();

    const reasons = [
      [`local registry ${logPath}`, REGISTRY_PLACEHOLDER] as const,
      ...replace,
      [dataDir, '<data-dir>'] as const,
    ];
    const out: GoldenOutputs = new Map();
    for (const info of topology.topics.values()) {
      if (info.role !== 'output' && info.role !== 'dlq') continue;
      const serde = info.valueSchema
        ? await AvroSerde.create<unknown>(registry, `${info.name}-value`, info.valueSchema)
        : undefined;
      const rows: string[] = [];
      for (const o of (await log.offsets(info.name)).sort((a, b) => a.partition - b.partition))
        for await (const batch of log.read({ topic: info.name, partition: o.partition }))
          for (const r of batch) {
            if (info.role === 'dlq') rows.push(deadLetterRow(r, reasons));
            else {
              if (r.value !== null) await serde!.prepare([AvroSerde.schemaIdOf(r.value)]);
              rows.push(outputRow(r, r.value === null ? null : serde!.deserialize(r.value)));
            }
          }
      out.set(`${info.name}.jsonl`, rows);
    }
    for (const s of topology.stores.values()) {
      const rows = await readStore({ stateDir, topology, store: s, registry }).catch((err: unknown) => {
        if ((err as { code?: string }).code === 'NO_STATE') return [];
        throw err;
      });
      out.set(
        `stores/${s.name}.jsonl`,
        rows.map((r) => JSON.stringify(r)),
      );
    }
    return out;
  } finally {
    await log.close();
    await registry.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
