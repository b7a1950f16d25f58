import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';

/** A fresh embedded log + local registry in a temp data directory (same layout as the CLI's `--data-dir`). */
export function tempBackend(prefix = 'eddy-test-') {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  return openBackendAt(dataDir);
}

/** Opens the embedded log + registry of an existing data directory. */
export function openBackendAt(dataDir: string) {
  const logPath = join(dataDir, 'log.db');
  const log = new EmbeddedLog(logPath);
  const registry = LocalSchemaRegistry.open(logPath);
  return {
    dataDir,
    logPath,
    stateDir: join(dataDir, 'state'),
    log,
    registry,
    async close() {
      await log.close();
      await registry.close();
    },
    async destroy() {
      await this.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
