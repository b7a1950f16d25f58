/**
 * `RegistrySync.sync` (src/runtime/registry-sync.ts) on the embedded log, positions committed by hand as a runner's
 * tasks commit them: it records moved positions, moves a version near the end of its inputs to `caught-up`, makes
 * the first one `live` (not the second), leaves a retired version alone; and it reads the versions registry through
 * its tail, so a sync where nothing moved reads no registry record at all and writes none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import type { Log, TopicPartitionOffset } from '../../src/log/contract.js';
import {
  checkVersion,
  getVersion,
  liveVersionOf,
  readVersions,
  setVersionState,
  VERSIONS_TOPIC,
} from '../../src/replay/registry.js';
import { RegistrySync } from '../../src/runtime/registry-sync.js';
import { tempBackend } from '../helpers/backend.js';
import { buildDelays } from '../helpers/versions.js';

const v1 = buildDelays(1);
const v2 = buildDelays(2, 14);

describe('RegistrySync.sync', () => {
  const env = tempBackend('eddy-registry-sync-');
  /** Registry records read through `counting` (the real log underneath). */
  let registryRead = 0;
  const counting = Object.create(env.log) as Log;
  counting.read = async function* (tp, o) {
    for await (const b of env.log.read(tp, o)) {
      if (tp.topic === VERSIONS_TOPIC) registryRead += b.length;
      yield b;
    }
  };
  const warnings: string[] = [];
  const sync = new RegistrySync({
    log: counting,
    versions: [v1, v2],
    onRetired: () => {},
    onWarning: (event, message) => warnings.push(`${event}: ${message}`),
  });
  let high: number[] = [];
  const registryEnd = async () => (await env.log.offsets(VERSIONS_TOPIC))[0].high;

  /** Commits `groupId`'s positions on `flights`, `behind` records before the end of each partition. */
  async function commit(groupId: string, behind: number): Promise<void> {
    const producer = env.log.producer({ transactionalId: `${groupId}-test` });
    try {
      const tx = await producer.transaction();
      const offsets: TopicPartitionOffset[] = high.map((h, partition) => ({
        topic: 'flights',
        partition,
        offset: Math.max(0, h - behind),
      }));
      tx.sendOffsets(groupId, offsets);
      await tx.commit();
    } finally {
      await producer.close();
    }
  }
  const positions = (behind: number) =>
    Object.fromEntries(high.map((h, p) => [`flights:${p}`, Math.max(0, h - behind)]));

  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: 500 });
    high = (await env.log.offsets('flights')).map((o) => o.high);
    await checkVersion(env.log, v1);
    await checkVersion(env.log, v2);
  }, 60_000);
  afterAll(async () => {
    await env.destroy();
  });

  it('records positions; both versions catch up (within 1,000 records), the first one becomes live', async () => {
    await commit(v1.groupId, 0);
    await commit(v2.groupId, 3);
    await sync.sync(false);
    expect(warnings).toEqual([]);
    const snap = await readVersions(env.log);
    expect(snap.versions.get('delays.v1')).toMatchObject({ state: 'live', positions: positions(0) });
    expect(snap.versions.get('delays.v2')).toMatchObject({ state: 'caught-up', positions: positions(3) });
    expect(liveVersionOf(snap, 'delays')).toBe(1);
  });

  it('nothing moved: reads no registry record and writes none', async () => {
    const end = await registryEnd();
    registryRead = 0;
    await sync.sync(false);
    await sync.sync(true);
    expect(registryRead).toBe(0);
    expect(await registryEnd()).toBe(end);
    expect(warnings).toEqual([]);
  });

  it('a moved position is recorded; a retired version is left as it is', async () => {
    await commit(v2.groupId, 0);
    await sync.sync(false);
    expect((await getVersion(env.log, 'delays', 2)).positions).toEqual(positions(0));
    await setVersionState(env.log, 'delays', 2, 'retired');
    const end = await registryEnd();
    await commit(v2.groupId, 5); // were it synced: a position moving backwards, refused with a warning
    await sync.sync(true);
    expect(await registryEnd()).toBe(end);
    expect((await getVersion(env.log, 'delays', 2)).state).toBe('retired');
    expect(warnings).toEqual([]);
  });
});
