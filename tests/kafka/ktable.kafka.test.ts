/** The tables suite (tests/runtime/ktable.suite.ts) on the real Kafka broker and schema registry. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '../log/helpers.js';
import { tableSuite } from '../runtime/ktable.suite.js';
import { kafkaLog, registry } from './helpers.js';

tableSuite(
  'Kafka',
  async () => {
    const ns = `${uniqueName('tbl')}.`;
    const log = kafkaLog(ns);
    const dir = mkdtempSync(join(tmpdir(), 'eddy-ktable-kafka-'));
    return {
      log,
      registry: registry(),
      stateDir: join(dir, 'state'),
      ns,
      async destroy() {
        await log.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  120_000,
);
