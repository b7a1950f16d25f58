/**
 * The package surface beside the test driver: `openLog(loadConfig().config)` opens the backend the CLI would open,
 * here the embedded log and local registry under the configured data directory (the Kafka branch is the CLI's own
 * `openBackend`, covered by the CLI's Kafka tests).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import * as eddy from '../../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('openLog opens the configured embedded backend: topics, records and schemas land in <dataDir>/log.db', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'eddy-openlog-'));
  dirs.push(cwd);
  writeFileSync(join(cwd, 'eddy.config.json'), JSON.stringify({ dataDir: 'my-data' }));
  const { config } = eddy.loadConfig({ cwd, env: {} });
  const backend = await eddy.openLog(config);
  try {
    expect(backend.kind).toBe('embedded');
    expect(backend.paths.logPath).toBe(join(cwd, 'my-data', 'log.db'));
    await backend.log.createTopics([{ name: 'greetings', partitions: 2 }]);
    const serde = await eddy.AvroSerde.create<string>(backend.registry, 'greetings-value', 'string');
    const key = Buffer.from('k');
    const producer = backend.log.producer();
    await producer.send([
      { topic: 'greetings', partition: eddy.partitionFor(key, 2), key, value: serde.serialize('hi'), timestamp: 1 },
    ]);
    await producer.close();
    const got: string[] = [];
    for await (const batch of backend.log.read({ topic: 'greetings', partition: eddy.partitionFor(key, 2) }))
      for (const r of batch) got.push(serde.deserialize(r.value!));
    expect(got).toEqual(['hi']);
    expect(await backend.registry.listSubjects()).toEqual(['greetings-value']);
  } finally {
    await backend.close();
  }
  expect(existsSync(join(cwd, 'my-data', 'log.db'))).toBe(true);
});

it('exports the test driver and the golden helpers', () => {
  for (const name of [
    'TopologyTestDriver',
    'goldenTest',
    'runGoldenCase',
    'compareGolden',
    'recordGolden',
    'goldenCases',
    'GoldenMismatchError',
  ])
    expect(typeof (eddy as Record<string, unknown>)[name], name).toBe('function');
});
