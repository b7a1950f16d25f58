/**
 * `eddy schemas <check|register|list|show|set-level|codegen>`: the schemas of the configured topologies against the
 * schema registry (the local one in embedded mode, the Confluent API with the kafka backend).
 *
 * Which subjects: for each topology, the subjects of the topics it writes (outputs, repartition topics, dead-letter
 * topic) and of its stores' changelogs, which eddy registers; and the subjects of the topics it only reads (inputs,
 * global tables), which belong to their producers: eddy checks that it can read every version registered there and
 * never registers there, unless told to with `register --subject S --file F` (acting as the producer).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { EddyConfig, LoadedConfig } from '../config/index.js';
import { ConfigError, EddyError } from '../errors.js';
import { identityOf, parseSchema } from '../schema/avro.js';
import { checkSubject, type SubjectUse, type SubjectVerdict } from '../schema/check.js';
import { codegenFiles } from '../schema/codegen.js';
import { loadSchemas } from '../schema/load.js';
import { type AvroSchema, COMPATIBILITY_LEVELS, type CompatibilityLevel } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { packageRoot } from '../util/paths.js';
import { openBackend } from './env.js';
import { FORMATS, type Format, formatRows } from './format.js';
import { knownTopologies } from './topologies.js';

/** One schema a topology declares for a subject. */
export interface DeclaredSubject {
  subject: string;
  schema: AvroSchema;
  use: SubjectUse;
  /** Who declares it, e.g. `flight-delays v2 output airport-delays-hourly.v2`. */
  declaredBy: string;
}

/** The subjects a topology writes (registers) and reads (checks only), with the schemas it declares for them. */
export function declaredSubjects(t: Topology): DeclaredSubject[] {
  const out: DeclaredSubject[] = [];
  const who = `${t.name} v${t.version}`;
  for (const info of t.topics.values()) {
    if (info.keySchema === undefined || info.valueSchema === undefined || info.role === 'changelog') continue;
    const use: SubjectUse = info.role === 'source' || info.role === 'global' ? 'reads' : 'writes';
    out.push({
      subject: `${info.name}-key`,
      schema: info.keySchema,
      use,
      declaredBy: `${who} ${info.role} ${info.name}`,
    });
    out.push({
      subject: `${info.name}-value`,
      schema: info.valueSchema,
      use,
      declaredBy: `${who} ${info.role} ${info.name}`,
    });
  }
  for (const s of t.stores.values()) {
    out.push({
      subject: `${s.changelog}-key`,
      schema: s.keySchema,
      use: 'writes',
      declaredBy: `${who} store ${s.name}`,
    });
    out.push({
      subject: `${s.changelog}-value`,
      schema: s.valueSchema,
      use: 'writes',
      declaredBy: `${who} store ${s.name}`,
    });
  }
  return out;
}

/** Every version of every configured topology (a module may export one builder or several versions). */
async function topologies(config: EddyConfig, only?: string): Promise<Topology[]> {
  const known = await knownTopologies(config.topologies);
  if (only !== undefined && !known.has(only)) {
    throw new ConfigError(`Unknown topology "${only}". Known topologies: ${[...known.keys()].join(', ')}.`);
  }
  const out: Topology[] = [];
  for (const [name, build] of known) {
    if (only !== undefined && name !== only) continue;
    const built = (await build()) as Topology | Topology[];
    out.push(...(Array.isArray(built) ? built : [built]));
  }
  return out;
}

/** The declared subjects, deduplicated by (subject, schema, use), optionally only `subject`. */
async function plan(config: EddyConfig, o: { subject?: string; topology?: string }): Promise<DeclaredSubject[]> {
  const seen = new Map<string, DeclaredSubject>();
  for (const t of await topologies(config, o.topology)) {
    for (const d of declaredSubjects(t)) {
      if (o.subject !== undefined && d.subject !== o.subject) continue;
      const id = `${d.subject}\u0000${d.use}\u0000${identityOf(parseSchema(d.schema, `for subject "${d.subject}"`))}`;
      const had = seen.get(id);
      if (had) had.declaredBy += `, ${d.declaredBy}`;
      else seen.set(id, { ...d });
    }
  }
  return [...seen.values()];
}

function readSchemaFile(file: string): AvroSchema {
  let schema: AvroSchema;
  try {
    schema = JSON.parse(readFileSync(file, 'utf8')) as AvroSchema;
  } catch (err) {
    throw new ConfigError(`Cannot read schema file ${file}: ${(err as Error).message}`, { file });
  }
  parseSchema(schema, `in ${file}`);
  return schema;
}

function explicit(o: { subject?: string; file?: string }): DeclaredSubject | undefined {
  if (o.file === undefined) return undefined;
  if (o.subject === undefined)
    throw new ConfigError('--file needs --subject: the subject to check the schema against.');
  return { subject: o.subject, schema: readSchemaFile(o.file), use: 'writes', declaredBy: o.file };
}

/** Exit 1 after printing: some schema failed its check. */
export class SchemaCheckFailedError extends EddyError {
  constructor(failed: readonly SubjectVerdict[]) {
    super(
      'SCHEMA_CHECK_FAILED',
      `${failed.length} schema check(s) failed: ${failed.map((v) => `${v.subject}: ${v.problems.join(' ')}`).join(' | ')}`,
      { details: { subjects: failed.map((v) => v.subject) } },
    );
  }
}

async function cmdCheck(
  config: EddyConfig,
  o: { subject?: string; file?: string; topology?: string; format: Format },
): Promise<void> {
  loadSchemas(join(packageRoot(import.meta.url), 'schemas')); // every bundled .avsc parses
  const one = explicit(o);
  const todo = one ? [one] : await plan(config, o);
  if (todo.length === 0) {
    throw new ConfigError(`No topology declares subject "${o.subject}". List them with: eddy schemas check`);
  }
  const b = await openBackend(config);
  const verdicts: (SubjectVerdict & { declaredBy: string })[] = [];
  try {
    for (const d of todo)
      verdicts.push({ ...(await checkSubject(b.registry, d.subject, d.schema, d.use)), declaredBy: d.declaredBy });
  } finally {
    await b.close();
  }
  const rows = verdicts.map((v) => ({
    subject: v.subject,
    eddy: v.use,
    level: v.use === 'reads' ? 'reads all versions' : v.level,
    versions: v.versions,
    verdict: v.problems.length > 0 ? 'INCOMPATIBLE' : v.registered ? 'registered' : 'ok',
    declared_by: v.declaredBy,
  }));
  process.stdout.write(formatRows(rows, o.format));
  const failed = verdicts.filter((v) => v.problems.length > 0);
  for (const v of failed) process.stdout.write(`\n${v.subject} (${v.declaredBy}):\n  ${v.problems.join('\n  ')}\n`);
  if (failed.length > 0) throw new SchemaCheckFailedError(failed);
}

async function cmdRegister(
  config: EddyConfig,
  o: { subject?: string; file?: string; topology?: string; format: Format },
): Promise<void> {
  const one = explicit(o);
  const todo = one ? [one] : (await plan(config, o)).filter((d) => d.use === 'writes');
  const b = await openBackend(config);
  const rows = [];
  try {
    for (const d of todo) {
      const id = await b.registry.register(d.subject, d.schema);
      const versions = await b.registry.listVersions(d.subject);
      let version: number | undefined;
      for (const v of versions) if ((await b.registry.getVersion(d.subject, v))?.id === id) version = v;
      rows.push({ subject: d.subject, id, version: version ?? '', declared_by: d.declaredBy });
    }
  } finally {
    await b.close();
  }
  process.stdout.write(formatRows(rows, o.format));
}

async function cmdList(config: EddyConfig, o: { format: Format }): Promise<void> {
  const b = await openBackend(config);
  try {
    const rows = [];
    for (const subject of await b.registry.listSubjects()) {
      const latest = await b.registry.getLatest(subject);
      rows.push({
        subject,
        versions: (await b.registry.listVersions(subject)).join(' '),
        latest_id: latest?.id ?? '',
        level: await b.registry.getCompatibility(subject),
      });
    }
    process.stdout.write(formatRows(rows, o.format));
  } finally {
    await b.close();
  }
}

async function cmdShow(config: EddyConfig, subject: string, o: { format: Format }): Promise<void> {
  const b = await openBackend(config);
  try {
    const versions = await b.registry.listVersions(subject);
    if (versions.length === 0)
      throw new ConfigError(`Subject "${subject}" has no versions. List subjects with: eddy schemas list`);
    const level = await b.registry.getCompatibility(subject);
    const rows = [];
    for (const v of versions) {
      const r = await b.registry.getVersion(subject, v);
      if (r) rows.push({ subject, version: r.version, id: r.id, level, schema: JSON.stringify(r.schema) });
    }
    process.stdout.write(formatRows(rows, o.format));
  } finally {
    await b.close();
  }
}

async function cmdSetLevel(config: EddyConfig, subject: string, level: CompatibilityLevel): Promise<void> {
  const b = await openBackend(config);
  try {
    await b.registry.setCompatibility(level, subject);
    process.stdout.write(`${subject}: ${await b.registry.getCompatibility(subject)}\n`);
  } finally {
    await b.close();
  }
}

/**
 * `eddy schemas codegen`: writes the generated types (see `codegenFiles`); with `check`, writes nothing and fails
 * naming each generated file that is missing or differs from what the `.avsc` files give.
 */
export function cmdCodegen(o: { schemas?: string; out?: string; check?: boolean }): void {
  // the current project's, never the eddy package's own (run from a user's project it would write into the library)
  const schemas = resolve(o.schemas ?? 'schemas');
  const out = resolve(o.out ?? join('src', 'generated'));
  const stale: string[] = [];
  for (const f of codegenFiles(schemas, out)) {
    let current: string | undefined;
    try {
      current = readFileSync(f.path, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === f.content) continue;
    if (o.check) {
      stale.push(f.path);
      continue;
    }
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
    process.stdout.write(`wrote ${f.path}\n`);
  }
  if (stale.length > 0) {
    throw new EddyError(
      'STALE_GENERATED_TYPES',
      `Generated types are stale (the .avsc files changed): ${stale.join(', ')}. Run: eddy schemas codegen`,
      { details: { files: stale } },
    );
  }
}

function level(raw: string): CompatibilityLevel {
  const up = raw.toUpperCase();
  if (!(COMPATIBILITY_LEVELS as readonly string[]).includes(up)) {
    throw new InvalidArgumentError(`must be one of ${COMPATIBILITY_LEVELS.join(', ')}, got "${raw}"`);
  }
  return up as CompatibilityLevel;
}

const formatOption = () => new Option('--format <format>', 'output format').choices(FORMATS).default('table');

/** Adds `eddy schemas ...` to the program; `config` gives the effective configuration of a command. */
export function registerSchemaCommands(program: Command, config: (cmd: Command) => LoadedConfig): void {
  const schemas = program
    .command('schemas')
    .description('check, register, list and show the schemas of the topologies; generate TypeScript types');
  schemas
    .command('check')
    .description(
      "check every schema the topologies declare against its subject's registered versions (exit 1 on any failure)",
    )
    .option('--subject <subject>', 'only this subject')
    .option('--file <file>', 'check this .avsc file against --subject instead (as its producer would register it)')
    .option('--topology <name>', 'only this topology')
    .addOption(formatOption())
    .action(async (o, cmd: Command) => cmdCheck(config(cmd).config, o));
  schemas
    .command('register')
    .description(
      'register the schemas of the subjects the topologies write (outputs, changelogs, repartition, DLQ); never inputs',
    )
    .option('--subject <subject>', 'only this subject; with --file, register that file under it (as its producer)')
    .option('--file <file>', 'an .avsc file to register under --subject')
    .option('--topology <name>', 'only this topology')
    .addOption(formatOption())
    .action(async (o, cmd: Command) => cmdRegister(config(cmd).config, o));
  schemas
    .command('list')
    .description('subjects with their versions, latest id and compatibility level')
    .addOption(formatOption())
    .action(async (o, cmd: Command) => cmdList(config(cmd).config, o));
  schemas
    .command('show')
    .description("a subject's versions, ids, level and schemas")
    .argument('<subject>', 'e.g. flights-value')
    .addOption(formatOption())
    .action(async (subject, o, cmd: Command) => cmdShow(config(cmd).config, subject, o));
  schemas
    .command('set-level')
    .description(`set a subject's compatibility level (${COMPATIBILITY_LEVELS.join(', ')})`)
    .argument('<subject>', 'e.g. flights-value')
    .argument('<level>', 'compatibility level', level)
    .action(async (subject, lvl, _o, cmd: Command) => cmdSetLevel(config(cmd).config, subject, lvl));
  schemas
    .command('codegen')
    .description('generate TypeScript types from the .avsc files (schemas/*.avsc, schemas/<dir>/*.avsc)')
    .option('--schemas <dir>', 'schema directory (default: schemas/ of the current directory)')
    .option('--out <dir>', 'output directory (default: src/generated of the current directory)')
    .option('--check', 'write nothing; exit 1 when a generated file is missing or stale')
    .action(async (o) => cmdCodegen(o));
}
