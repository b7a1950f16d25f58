/** flight-delays correctness on a real Kafka broker and Confluent-API registry (the suite: flight-delays.suite.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flightDelaysSuite } from '../examples/flight-delays.suite.js';
import { uniqueName } from '../log/helpers.js';
import { kafkaLog, registry } from './helpers.js';

flightDelaysSuite(
  'Kafka',
  async () => {
    const namespace = uniqueName('fdk').replace(/-\d+$/, '');
    const log = kafkaLog(namespace);
    const reg = registry();
    const stateDir = mkdtempSync(join(tmpdir(), 'eddy-kafka-state-'));
    return {
      log,
      registry: reg,
      stateDir,
      namespace,
      async destroy() {
        await log.close();
        await reg.close();
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  },
  20_000,
);
