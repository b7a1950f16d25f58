import { join, resolve } from 'node:path';
import type { Log } from '../log/contract.js';
import { EmbeddedLog } from '../log/embedded/index.js';
import { LocalSchemaRegistry } from '../schema/local-registry.js';
import type { SchemaRegistry } from '../schema/types.js';

/** Where eddy keeps its embedded log and state stores. */
export interface DataPaths {
  /** The data directory (default `.eddy`, or `$EDDY_DATA_DIR`). */
  readonly dataDir: string;
  /** The embedded log and local schema registry: `<dataDir>/log.db`. */
  readonly logPath: string;
  /** State stores: `<dataDir>/state`. */
  readonly stateDir: string;
}

/** Resolves the data paths from `--data-dir` or the environment. */
export function dataPaths(dataDir?: string): DataPaths {
  const dir = resolve(dataDir ?? process.env.EDDY_DATA_DIR ?? '.eddy');
  return { dataDir: dir, logPath: join(dir, 'log.db'), stateDir: join(dir, 'state') };
}

/** An open log and schema registry, closed together. */
export interface Backend {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly paths: DataPaths;
  close(): Promise<void>;
}

/** Opens the embedded log and the local schema registry (both in `<dataDir>/log.db`). */
export function openBackend(paths: DataPaths): Backend {
  const log = new EmbeddedLog(paths.logPath);
  const registry = LocalSchemaRegistry.open(paths.logPath);
  return {
    log,
    registry,
    paths,
    async close() {
      await log.close();
      await registry.close();
    },
  };
}
