/**
 * `eddy sql`'s engine choice, measured: materializing a store into an in-memory table (what `SqlSession` does) vs
 * ATTACHing its files and decoding in views with a user-defined function (one JS call per column per row).
 * Usage: `node dist/bench/sql.js <stateDir of a flight-delays run>` (e.g. after `eddy demo`: `.eddy/state`).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import buildTopology from '../examples/flight-delays/topology.js';
import { parseSchema } from '../src/schema/avro.js';
import { LocalSchemaRegistry } from '../src/schema/local-registry.js';
import { storesPlan } from '../src/sql/plan.js';
import { SqlSession } from '../src/sql/session.js';

const stateDir = process.argv[2] ?? '.eddy/state';
const registry = LocalSchemaRegistry.open(join(stateDir, '..', 'log.db'));
const t = (Array.isArray(buildTopology) ? buildTopology[0] : buildTopology)();
const QUERY = (table: string) =>
  `SELECT airport, count(*) AS hours, avg(avg_delay) AS d FROM ${table} GROUP BY airport ORDER BY hours DESC LIMIT 5`;

const plan = { tables: await storesPlan(registry, stateDir, [{ topology: t, main: true }]) };
let started = performance.now();
const s = new SqlSession(plan);
s.query(QUERY('delays_by_airport_hour'));
const materializeMs = performance.now() - started;
started = performance.now();
s.query(QUERY('delays_by_airport_hour'));
const againMs = performance.now() - started;
s.close();

// UDF views: ATTACH (read-write: this SQLite has no URI file names) and decode per column.
const table = plan.tables.find((x) => x.names[0] === 'delays_by_airport_hour')!;
const db = new Database(':memory:');
const reader = parseSchema(table.value.reader);
const resolvers = new Map(
  Object.entries(table.value.writers).map(([id, w]) => [Number(id), reader.createResolver(parseSchema(w))]),
);
let last: Buffer | undefined;
let lastValue: Record<string, unknown> = {};
db.function('eddy_field', { deterministic: true }, (buf: unknown, field: unknown) => {
  const b = buf as Buffer;
  if (last === undefined || !b.equals(last)) {
    last = b;
    lastValue = reader.decode(b, 5, resolvers.get(b.readInt32BE(1))).value as Record<string, unknown>;
  }
  return lastValue[field as string] as number;
});
started = performance.now();
for (const [i, f] of table.files.entries()) db.exec(`ATTACH '${f}' AS s${i}`);
const union = table.files
  .map((_, i) => `SELECT substr(key, 6) AS airport, eddy_field(value, 'avg_delay') AS avg_delay FROM s${i}.win`)
  .join(' UNION ALL ');
db.exec(`CREATE TEMP VIEW v AS ${union}`);
db.prepare(QUERY('v')).all();
const udfMs = performance.now() - started;
const rows = (db.prepare('SELECT count(*) AS n FROM v').get() as { n: number }).n;
db.close();
console.log(
  JSON.stringify({
    rows,
    materializeFirstQueryMs: Math.round(materializeMs),
    materializedNextQueryMs: Math.round(againMs),
    udfViewQueryMs: Math.round(udfMs),
  }),
);
