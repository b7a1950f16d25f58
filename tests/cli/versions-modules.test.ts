/** Topology modules with several versions, version resolution and ambiguous store names (src/cli/topologies.ts). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStore, loadTopology, loadVersions, resolveVersion } from '../../src/cli/topologies.js';
import { checkVersion, setVersionState } from '../../src/replay/registry.js';
import { tempBackend } from '../helpers/backend.js';
import { ROOT } from '../helpers/proc.js';

let dir: string;
const mod = (file: string, body: string) => {
  writeFileSync(
    join(dir, file),
    `import { topology } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const v = (version, name = 'm') => { const t = topology({ name, version }); t.source('in', { key: 'string', value: 'string' })
  .groupByKey({ key: 'string' }).aggregate('counts', { value: 'long', initializer: () => 0, aggregator: (a) => a + 1 }); return t.build(); };
${body}\n`,
  );
  return join(dir, file);
};

describe('topology modules with several versions', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eddy-modules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the single form, an array of functions and values, a function returning an array, one module per version', async () => {
    const single = { m: mod('single.mjs', 'export default () => v(1);') };
    expect((await loadVersions('m', single)).map((t) => t.version)).toEqual([1]);
    const arr = { m: mod('array.mjs', 'export default [() => v(3), v(1)];') };
    expect((await loadVersions('m', arr)).map((t) => t.version)).toEqual([1, 3]);
    const fnArr = { m: mod('fn-array.mjs', 'export default () => [v(2), v(1)];') };
    expect((await loadVersions('m', fnArr)).map((t) => t.version)).toEqual([1, 2]);
    const perVersion = {
      m: [mod('v2.mjs', 'export default () => v(2);'), mod('v1.mjs', 'export default () => v(1);')],
    };
    expect((await loadVersions('m', perVersion)).map((t) => t.version)).toEqual([1, 2]);
    expect((await loadTopology('m', perVersion)).version).toBe(2);
    expect((await loadTopology('m', perVersion, 1)).version).toBe(1);
    await expect(loadTopology('m', perVersion, 5)).rejects.toThrow('m has no version 5 in its code (versions: v1, v2)');
  });

  it('refuses a version defined twice, versions with different names, and a bad export', async () => {
    await expect(loadVersions('m', { m: mod('dup.mjs', 'export default [v(1), v(1)];') })).rejects.toThrow(
      'version 1 is defined twice',
    );
    await expect(loadVersions('m', { m: mod('names.mjs', "export default [v(1), v(2, 'other')];") })).rejects.toThrow(
      'name different topologies',
    );
    await expect(loadVersions('m', { m: mod('bad.mjs', 'export default [42];') })).rejects.toThrow(
      'or an array of Topologies or such functions',
    );
  });

  it('resolves the given version, else the live one, else the highest', async () => {
    const b = tempBackend('eddy-resolve-');
    try {
      const reg = { m: mod('three.mjs', 'export default [v(1), v(2), v(3)];') };
      expect((await resolveVersion(b.log, 'm', undefined, reg)).version).toBe(3);
      const [v1] = await loadVersions('m', reg);
      await checkVersion(b.log, v1, {});
      await setVersionState(b.log, 'm', 1, 'live');
      expect((await resolveVersion(b.log, 'm', undefined, reg)).version).toBe(1);
      expect((await resolveVersion(b.log, 'm', 2, reg)).version).toBe(2);
    } finally {
      await b.destroy();
    }
  });

  it('lists the candidates of a store in several topologies or versions, or picks the live one when asked', async () => {
    const reg = {
      m: mod('two.mjs', 'export default [v(1), v(2)];'),
      n: mod('n.mjs', "export default () => v(1, 'n');"),
    };
    await expect(findStore('counts', undefined, reg)).rejects.toThrow(
      'State store "counts" is in 3 topology versions: m v1 (--topology m --version 1), m v2 (--topology m --version 2), n v1 (--topology n --version 1)',
    );
    await expect(findStore('counts', 'm', reg)).rejects.toThrow('is in 2 topology versions');
    expect((await findStore('counts', 'm', reg, { version: 1 })).topology.version).toBe(1);
    expect((await findStore('counts', 'n', reg)).topology.name).toBe('n');
    expect((await findStore('counts', 'm', reg, { liveVersion: () => 2 })).topology.version).toBe(2);
    await expect(findStore('nope', 'm', reg)).rejects.toThrow('Unknown state store "nope"');
    // a version no topology defines names the versions that have the store
    await expect(findStore('counts', undefined, reg, { version: 9 })).rejects.toThrow(
      'State store "counts" is in no version 9 of a topology\'s code; it is in m v1, m v2, n v1. Pick one of those with --version.',
    );
  });
});
