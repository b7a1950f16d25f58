/**
 * Golden tests: each folder `tests/golden/<case>/` holds `case.json` (topology and inputs), input fixtures
 * (`<topic>.jsonl`: `{ key, value }` per line, or `{ key, valueHex }` for raw bytes such as malformed records), and
 * the expected outputs under `expected/`: one `<topic>.jsonl` per output and dead-letter topic, and
 * `stores/<store>.jsonl` per state store. The test runs the topology on a fresh embedded log and compares exactly.
 *
 * To re-record after an intended change: `EDDY_GOLDEN_RECORD=1 npx vitest run tests/golden`, then review the diff.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/cli/topologies.js';
import type { ProducerRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { tempBackend } from '../helpers/backend.js';

const here = dirname(fileURLToPath(import.meta.url));
const RECORD = process.env.EDDY_GOLDEN_RECORD === '1';

interface CaseSpec {
  topology: string;
  inputs: { topic: string; file: string; partitions: number; compacted?: boolean }[];
}

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

async function runCase(dir: string): Promise<Map<string, string[]>> {
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseSpec;
  const topology = await loadTopology(spec.topology);
  const env = tempBackend('eddy-golden-');
  try {
    await env.log.createTopics(spec.inputs.map((i) => ({ name: i.topic, partitions: i.partitions, compacted: i.compacted })));
    const producer = env.log.producer();
    for (const input of spec.inputs) {
      const info = topology.topics.get(input.topic)!;
      const key = await AvroSerde.create<unknown>(env.registry, `${input.topic}-key`, info.keySchema!);
      const value = await AvroSerde.create<unknown>(env.registry, `${input.topic}-value`, info.valueSchema!);
      const records: ProducerRecord[] = lines(join(dir, input.file)).map((l) => {
        const o = JSON.parse(l) as { key: unknown; value?: { date?: number }; valueHex?: string };
        const k = key.serialize(o.key);
        const v = o.valueHex !== undefined ? Buffer.from(o.valueHex, 'hex') : value.serialize(o.value);
        return { topic: input.topic, partition: partitionFor(k, input.partitions), key: k, value: v, timestamp: o.value?.date ?? 0 };
      });
      await producer.send(records);
    }
    await producer.close();
    await new TopologyRunner(topology, { log: env.log, registry: env.registry, stateDir: env.stateDir, untilIdle: true, maxBatchRecords: 50 }).run();

    const out = new Map<string, string[]>();
    for (const info of topology.topics.values()) {
      if (info.role !== 'output' && info.role !== 'dlq') continue;
      const serde = info.valueSchema ? await AvroSerde.create<unknown>(env.registry, `${info.name}-value`, info.valueSchema) : undefined;
      const rows: string[] = [];
      for (const o of await env.log.offsets(info.name))
        for await (const batch of env.log.read({ topic: info.name, partition: o.partition }))
          for (const r of batch) {
            const h = (k: string) => r.headers[k]?.toString();
            const row: Record<string, unknown> = { partition: r.partition, source: `${h('eddy.source.topic')}/${h('eddy.source.partition')}/${h('eddy.source.offset')}` };
            if (info.role === 'dlq') {
              row.processor = h('eddy.dlq.processor');
              row.reason = h('eddy.dlq.reason')?.replaceAll(env.dataDir, '<data-dir>');
              row.valueHex = r.value?.toString('hex');
            } else {
              await serde!.prepare([AvroSerde.schemaIdOf(r.value!)]);
              row.value = serde!.deserialize(r.value!);
            }
            rows.push(JSON.stringify(row));
          }
      out.set(`${info.name}.jsonl`, rows);
    }
    for (const s of topology.stores.values()) {
      const rows = await readStore({ stateDir: env.stateDir, topology, store: s, registry: env.registry });
      out.set(join('stores', `${s.name}.jsonl`), rows.map((r) => JSON.stringify(r)));
    }
    return out;
  } finally {
    await env.destroy();
  }
}

const cases = readdirSync(here).filter((d) => existsSync(join(here, d, 'case.json')));

describe('golden cases', () => {
  it('has at least one case', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(c, async () => {
      const dir = join(here, c);
      const got = await runCase(dir);
      if (RECORD) {
        for (const [file, rows] of got) {
          mkdirSync(dirname(join(dir, 'expected', file)), { recursive: true });
          writeFileSync(join(dir, 'expected', file), rows.map((r) => `${r}\n`).join(''));
        }
        console.log(`re-recorded golden case ${c}: ${[...got.keys()].join(', ')}`);
        return;
      }
      for (const [file, rows] of got) {
        const path = join(dir, 'expected', file);
        expect(existsSync(path), `missing expected file ${path}; re-record with EDDY_GOLDEN_RECORD=1`).toBe(true);
        expect(rows, file).toEqual(lines(path));
      }
    }, 120_000);
  }
});
