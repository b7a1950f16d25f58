/**
 * `eddy run --dry-run` (issue 8, item 4): a slice of the input goes through the real code against a scratch copy of
 * the version's state; nothing is written to the log, the registry or the store files (every topic's end offsets,
 * every subject's versions and every file's bytes compared before and after), and what it reports equals what the
 * real run then does with the same slice.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { dryRun } from '../../src/debug/dry-run.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';

type Env = ReturnType<typeof tempBackend>;

/** Everything a write could change: end offsets of every topic, every subject's versions, every state file's bytes. */
async function written(env: Env): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of await env.log.listTopics())
    out[`topic ${d.name}`] = (await env.log.offsets(d.name)).map((o) => `${o.low}-${o.high}`).join(' ');
  for (const s of await env.registry.listSubjects())
    out[`subject ${s}`] = (await env.registry.listVersions(s)).join(',');
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else out[`file ${p}`] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(env.stateDir);
  return out;
}

async function run(env: Env, t: Topology): Promise<void> {
  await new TopologyRunner(t, { log: env.log, registry: env.registry, stateDir: env.stateDir, untilIdle: true }).run();
}

describe('dry run', () => {
  const env = tempBackend('eddy-dry-');
  const v1 = buildFlightDelays();
  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: 20_000 });
    await run(env, v1);
    // 3,000 more flights the version has not processed yet: what the dry run reads from its committed positions
    await loadFlightData({ log: env.log, registry: env.registry, skip: 20_000, limit: 3_000 });
  }, 180_000);
  afterAll(async () => env.destroy());

  it('writes nothing to the log, the registry or the store files', async () => {
    const before = await written(env);
    expect(Object.keys(before).some((k) => k.startsWith('file ') && k.endsWith('route_stats.sqlite'))).toBe(true);
    const report = await dryRun({
      log: env.log,
      registry: env.registry,
      stateDir: env.stateDir,
      topology: v1,
      limit: 1_000,
    });
    expect(report.inputs.reduce((n, s) => n + s.records, 0)).toBe(1_000);
    expect(report.stores.find((s) => s.store === 'route_stats')!.keysChanged).toBeGreaterThan(0);
    // version 2 never ran: a real run would register its subjects; the dry run registers none
    const v2 = buildFlightDelays({ version: 2 });
    const r2 = await dryRun({ log: env.log, registry: env.registry, stateDir: env.stateDir, topology: v2, limit: 500 });
    expect(r2.wouldRegister).toContain('airport-delays-hourly.v2-value');
    expect(r2.inputs.reduce((n, s) => n + s.records, 0)).toBe(500);
    expect(await written(env)).toEqual(before);
  }, 120_000);

  it('reports what the real run then writes for the same slice', async () => {
    const report = await dryRun({
      log: env.log,
      registry: env.registry,
      stateDir: env.stateDir,
      topology: v1,
      limit: 1_000_000,
      sampleSize: 1_000_000,
    });
    expect(report.inputs.reduce((n, s) => n + s.records, 0)).toBe(3_000);
    const routesBefore = new Map(
      (
        await readStore({
          stateDir: env.stateDir,
          topology: v1,
          store: v1.stores.get('route_stats')!,
          registry: env.registry,
        })
      ).map((r) => [r.route, r]),
    );
    const ends = new Map<string, number>();
    for (const topic of ['airport-delays-hourly.v1', v1.deadLetterTopic])
      ends.set(
        topic,
        (await env.log.offsets(topic)).reduce((n, o) => n + o.high, 0),
      );
    await run(env, v1);
    const routesAfter = new Map(
      (
        await readStore({
          stateDir: env.stateDir,
          topology: v1,
          store: v1.stores.get('route_stats')!,
          registry: env.registry,
        })
      ).map((r) => [r.route, r]),
    );
    const routes = report.stores.find((s) => s.store === 'route_stats')!;
    const changed = [...routesAfter].filter(([k, v]) => JSON.stringify(routesBefore.get(k)) !== JSON.stringify(v));
    expect(routes.keysChanged).toBe(changed.length);
    expect(routes.sample.length).toBe(changed.length);
    for (const c of routes.sample) {
      const { route, ...after } = routesAfter.get(c.key as string)!;
      expect(c.after).toEqual(after);
      const had = routesBefore.get(c.key as string);
      if (had === undefined) expect(c.before).toBeNull();
      else expect({ route: c.key, ...(c.before as object) }).toEqual(had);
    }
    const grew = async (topic: string) =>
      (await env.log.offsets(topic)).reduce((n, o) => n + o.high, 0) - ends.get(topic)!;
    const hourly = report.outputs.find((o) => o.topic === 'airport-delays-hourly.v1');
    expect(hourly?.records ?? 0).toBe(await grew('airport-delays-hourly.v1'));
    expect(report.deadLetters.records).toBe(await grew(v1.deadLetterTopic));
    expect(hourly!.records).toBeGreaterThan(0);
  }, 180_000);
});
