/**
 * `eddy replay` checks: truncated inputs, --reset, --from, on the embedded log through the built CLI. Parts that need
 * log members another change is adding in this tree (deleteRecords, deleteGroups, offsetsForTime, member-less
 * commitOffsets) run once the embedded log implements them (probed below; they throw NOT_IMPLEMENTED until then).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedLog } from '../../src/log/embedded/index.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';

async function implemented(call: (log: EmbeddedLog) => Promise<unknown>): Promise<boolean> {
  const b = tempBackend('eddy-probe-');
  try {
    await b.log.createTopics([{ name: 't', partitions: 1 }]);
    await call(b.log);
    return true;
  } catch (err) {
    return (err as { code?: string }).code !== 'NOT_IMPLEMENTED';
  } finally {
    await b.destroy();
  }
}
const HAS_DELETE_RECORDS = await implemented((log) => log.deleteRecords({ topic: 't', partition: 0 }, 0));
const HAS_DELETE_GROUPS = await implemented((log) => log.deleteGroups(['g']));
const HAS_SEEK =
  (await implemented((log) => log.offsetsForTime('t', 0))) && (await implemented((log) => log.commitOffsets('g', [])));

let dir: string;
function eddy(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const MODULE = `
import { loadSchemas, topology } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const s = loadSchemas(${JSON.stringify(join(ROOT, 'schemas'))});
const build = (version) => {
  const t = topology({ name: 'counts', version });
  const out = t.output('routes', { key: 'string', value: 'long' });
  t.source('flights', { key: 'string', value: s.get('Flight') })
    .groupBy('by_route', (r) => r.value.origin + '-' + r.value.destination, { key: 'string', value: s.get('Flight') })
    .aggregate('by_route', { value: 'long', initializer: () => 0, aggregator: (n) => n + version })
    .toStream('updates').to(out, 'to-routes');
  return t.build();
};
export default [() => build(1), () => build(2)];
`;

/** End offsets of every topic and the committed offsets of group counts.v1 on flights: v1's whole footprint. */
async function footprint(): Promise<string> {
  const b = openBackendAt(join(dir, '.eddy'));
  try {
    const parts: string[] = [];
    for (const d of await b.log.listTopics())
      if (d.name.startsWith('counts.v1') || d.name === 'routes.v1')
        parts.push(`${d.name}=${(await b.log.offsets(d.name)).map((o) => o.high).join(',')}`);
    parts.push(`group=${JSON.stringify([...(await b.log.committedOffsets('counts.v1', 'flights'))])}`);
    return parts.join(' ');
  } finally {
    await b.close();
  }
}

describe('eddy replay (embedded, CLI)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eddy-cli-replay-'));
    writeFileSync(join(dir, 'counts.mjs'), MODULE);
    writeFileSync(join(dir, 'eddy.config.json'), JSON.stringify({ topologies: { counts: './counts.mjs' } }));
    expect(eddy(['load', '--limit', '2000', '--partitions', '2', '--no-progress']).code).toBe(0);
    expect(eddy(['replay', 'counts', '--version', '1']).code).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays v2 beside v1 without touching v1, printing plain progress lines off a terminal', async () => {
    const before = await footprint();
    const r = eddy(['replay', 'counts', '--version', '2']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/counts\.v2: \d+\/2000 records \(\d+%\), \d+ records\/s/);
    expect(r.stdout).toContain('counts.v2: caught up');
    expect(await footprint()).toBe(before);
  });

  it('refuses --reset of a live version before deleting anything', () => {
    expect(eddy(['promote', 'counts', '1']).code).toBe(0);
    const r = eddy(['replay', 'counts', '--version', '1', '--reset']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('counts version 1 is live; it cannot become reset');
    expect(r.stdout).not.toContain('--reset deletes');
    expect(existsSync(join(dir, '.eddy', 'state', 'counts.v1'))).toBe(true);
  });

  it.runIf(HAS_DELETE_GROUPS)('--reset prints what it deletes, deletes it, and replays from the start', () => {
    const r = eddy(['replay', 'counts', '--version', '2', '--reset']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('counts.v2: --reset deletes:');
    expect(r.stdout).toMatch(/routes\.v2 {2}\d+ record\(s\)/);
    expect(r.stdout).toContain('consumer group: counts.v2');
    expect(r.stdout).toContain('counts.v2: replayed 2000 input records');
  });

  it.runIf(HAS_SEEK)('--from starts at the first records at or after the time', () => {
    const r = eddy(['replay', 'counts', '--version', '2', '--reset', '--from', '2001-01-01T00:00:00Z']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('counts.v2: positions set to the first records at or after 2001-01-01T00:00:00.000Z');
  });

  it.runIf(HAS_DELETE_RECORDS && HAS_DELETE_GROUPS)(
    'refuses inputs with deleted records unless --allow-truncated-input, saying how many',
    async () => {
      const b = openBackendAt(join(dir, '.eddy'));
      try {
        await b.log.deleteRecords({ topic: 'flights', partition: 0 }, 10);
      } finally {
        await b.close();
      }
      const r = eddy(['replay', 'counts', '--version', '2', '--reset']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('10 record(s) were deleted before it read them (flights:0 starts at 10)');
      const ok = eddy(['replay', 'counts', '--version', '2', '--reset', '--allow-truncated-input']);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('flights:0: 10 record(s) deleted before this version read them');
    },
  );
});
