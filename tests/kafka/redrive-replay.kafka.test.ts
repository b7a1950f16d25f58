/**
 * Redrive and replay agree (issue 15 item 1) on the real broker: see tests/helpers/redrive-suite.ts. A unique prefix
 * names the topology, topics and groups of the run; state lives in a temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { redriveNames } from '../helpers/redrive.js';
import { redriveReplaySuite } from '../helpers/redrive-suite.js';
import { uniqueName } from '../log/helpers.js';
import { kafkaLog, registry } from './helpers.js';

describe('redrive then replay (Kafka)', () => {
  redriveReplaySuite(async () => {
    const prefix = `${uniqueName('rd').replace(/-\d+$/, '')}-`;
    const log = kafkaLog(prefix);
    const reg = registry();
    const stateDir = mkdtempSync(join(tmpdir(), 'eddy-redrive-kafka-'));
    return {
      env: { log, registry: reg, stateDir },
      names: redriveNames(prefix),
      async close() {
        await log.close();
        await reg.close();
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  });
});
