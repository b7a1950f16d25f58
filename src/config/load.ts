/**
 * Loads eddy's configuration from its four sources, later overriding earlier:
 * defaults (the schema's) < config file (`eddy.config.json` in the working directory, or `--config <file>`)
 * < environment (`x-env` of each key) < CLI flags (`x-flag` of each key). Then validates the merged result against
 * `CONFIG_SCHEMA`. Every problem becomes one line naming the key, the bad value, where it came from and what is
 * expected, and all of them are raised together as one `ConfigError` before anything is opened or written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError } from '../errors.js';
import { ANNOTATIONS, CONFIG_SCHEMA, configLeaves, type EddyConfig, type SchemaNode, schemaAt } from './schema.js';

/** The default config file, looked up in the working directory. */
export const CONFIG_FILE = 'eddy.config.json';

/** Where the configuration comes from; every field defaults to the real process. */
export interface ConfigSources {
  /** Working directory: where `eddy.config.json` is looked up and relative `dataDir`s resolve. */
  readonly cwd?: string;
  /** Environment variables (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** CLI flag values by flag name, e.g. `{ '--http-port': '0' }`; undefined = not given. */
  readonly flags?: Readonly<Record<string, string | number | undefined>>;
  /** `--config <file>`: this file instead of `eddy.config.json`; it must exist. */
  readonly configFile?: string;
}

/** A validated configuration and where each key came from. */
export interface LoadedConfig {
  readonly config: EddyConfig;
  /** Absolute path of the config file that was read, if any. */
  readonly file?: string;
  /** Dotted key -> `default`, `file <path>`, `env <NAME>` or `flag <--name>` (for keys set by a source). */
  readonly origins: ReadonlyMap<string, string>;
}

/** Thrown by `loadConfig` (code `CONFIG`); `lines` holds one message per problem. */
export class ConfigValidationError extends ConfigError {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'), { errors: lines });
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(data: unknown): ErrorObject[] {
  if (validator === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
    for (const keyword of ANNOTATIONS) ajv.addKeyword({ keyword });
    validator = ajv.compile(CONFIG_SCHEMA as Json);
  }
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

/**
 * The defaults of `node`: top-level groups become objects of their children's defaults; nested groups without
 * defaults (`kafka.sasl`) stay absent unless a source sets one of their keys.
 */
export function configDefaults(node: SchemaNode = CONFIG_SCHEMA, depth = 0): unknown {
  if (node.default !== undefined) return structuredClone(node.default);
  if (node.type !== 'object' || node.properties === undefined) return undefined;
  const out: Json = {};
  for (const [k, child] of Object.entries(node.properties)) {
    const v = configDefaults(child, depth + 1);
    if (v !== undefined) out[k] = v;
  }
  return depth >= 2 && Object.keys(out).length === 0 ? undefined : out;
}

/** Converts an environment or flag string to the type of `node` (left as is when it does not parse: validation reports it). */
export function coerce(raw: string | number, node: SchemaNode): unknown {
  if (typeof raw === 'number') return raw;
  const s = raw.trim();
  switch (node.type) {
    case 'array':
      return s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    case 'integer':
      return /^[+-]?\d+$/.test(s) ? Number(s) : raw;
    case 'boolean':
      if (/^(true|1)$/i.test(s)) return true;
      if (/^(false|0)$/i.test(s)) return false;
      return raw;
    default:
      return raw;
  }
}

function setAt(root: Json, path: readonly string[], value: unknown): void {
  let cur = root;
  for (const seg of path.slice(0, -1)) {
    if (!isObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Json;
  }
  cur[path[path.length - 1]] = value;
}

function getAt(root: unknown, path: readonly string[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (isObject(cur)) cur = cur[seg];
    else if (Array.isArray(cur)) cur = cur[Number(seg)];
    else return undefined;
  }
  return cur;
}

/** Deep-merges `src` into `dst`: objects merge, everything else replaces. Records the origin of each key set. */
function mergeInto(dst: Json, src: Json, path: string[], origin: string, origins: Map<string, string>): void {
  for (const [k, v] of Object.entries(src)) {
    const p = [...path, k];
    if (isObject(v) && isObject(dst[k])) mergeInto(dst[k] as Json, v, p, origin, origins);
    else {
      dst[k] = structuredClone(v);
      origins.set(p.join('.'), origin);
    }
  }
}

function readConfigFile(path: string, explicit: boolean): Json | undefined {
  if (!existsSync(path)) {
    if (explicit)
      throw new ConfigValidationError([`--config: file not found: ${path}; check the path or drop --config`]);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigValidationError([`${path}: not valid JSON (${(err as Error).message}); fix the syntax`]);
  }
  if (!isObject(parsed))
    throw new ConfigValidationError([`${path}: expected a JSON object at the top level, got ${describe(parsed)}`]);
  return parsed;
}

/** Loads, merges and validates the configuration. Throws `ConfigValidationError` listing every problem. */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const cwd = sources.cwd ?? process.cwd();
  const env = sources.env ?? process.env;
  const flags = sources.flags ?? {};
  const origins = new Map<string, string>();
  const data = configDefaults() as Json;

  const file = resolve(cwd, sources.configFile ?? CONFIG_FILE);
  const fromFile = readConfigFile(file, sources.configFile !== undefined);
  if (fromFile !== undefined) mergeInto(data, fromFile, [], `file ${file}`, origins);

  for (const leaf of configLeaves()) {
    const name = leaf.schema['x-env'];
    const raw = name === undefined ? undefined : env[name];
    if (raw === undefined || raw === '') continue;
    setAt(data, leaf.path, coerce(raw, leaf.schema));
    origins.set(leaf.key, `env ${name}`);
  }
  for (const leaf of configLeaves()) {
    const name = leaf.schema['x-flag'];
    const raw = name === undefined ? undefined : flags[name];
    if (raw === undefined) continue;
    setAt(data, leaf.path, coerce(raw, leaf.schema));
    origins.set(leaf.key, `flag ${name}`);
  }

  const lines = explain(validate(data), data, origins);
  if (lines.length > 0) throw new ConfigValidationError(lines);

  // Relative paths: dataDir against the working directory; topology modules against the config file's directory.
  data.dataDir = resolve(cwd, data.dataDir as string);
  const base = fromFile !== undefined ? dirname(file) : cwd;
  const topologies = data.topologies as Record<string, string | string[]>;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  for (const [name, p] of Object.entries(topologies)) topologies[name] = Array.isArray(p) ? p.map(abs) : abs(p);
  const tlsLines = checkTls(
    data.kafka as Json,
    origins,
    (origins.get('kafka.sslCaFile') ?? '').startsWith('file ') ? base : cwd,
  );
  if (tlsLines.length > 0) throw new ConfigValidationError(tlsLines);
  moveUrlCredentials(data.schemaRegistry as Json, origins);
  return { config: data as unknown as EddyConfig, file: fromFile !== undefined ? file : undefined, origins };
}

/**
 * `kafka.sslCaFile`: resolved against `base` (the config file's directory when set there, else the working
 * directory), and read now so that a missing or wrong file stops before anything connects. A CA file implies TLS;
 * `kafka.ssl: false` set by a source beside it is a contradiction and refused.
 */
function checkTls(kafka: Json, origins: Map<string, string>, base: string): string[] {
  const raw = kafka.sslCaFile;
  if (typeof raw !== 'string') return [];
  const path = isAbsolute(raw) ? raw : resolve(base, raw);
  kafka.sslCaFile = path;
  const where = originOf('kafka.sslCaFile', origins);
  if (kafka.ssl === false && origins.has('kafka.ssl'))
    return [
      `kafka.ssl: false${originOf('kafka.ssl', origins)} contradicts kafka.sslCaFile${where}, which turns TLS on; drop one of them`,
    ];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return [`kafka.sslCaFile: cannot read ${path}${where} (${reason}); give the path of the CA's PEM file`];
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    return [
      `kafka.sslCaFile: ${path}${where} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line); give the CA certificate in PEM form`,
    ];
  if (kafka.ssl !== true) origins.set('kafka.ssl', 'implied by kafka.sslCaFile');
  kafka.ssl = true;
  return [];
}

/**
 * Credentials written into `schemaRegistry.url` (`https://key:secret@host`) move to `schemaRegistry.username` and
 * `password` (the password is a secret: hidden when the configuration is printed, never logged), unless those are
 * set; the URL keeps only the address.
 */
function moveUrlCredentials(registry: Json, origins: Map<string, string>): void {
  if (typeof registry.url !== 'string') return;
  const url = new URL(registry.url);
  if (url.username === '' && url.password === '') return;
  const origin = origins.get('schemaRegistry.url') ?? 'default';
  if (registry.username === undefined && url.username !== '') {
    registry.username = decodeURIComponent(url.username);
    registry.password = decodeURIComponent(url.password);
    origins.set('schemaRegistry.username', origin);
    origins.set('schemaRegistry.password', origin);
  }
  url.username = '';
  url.password = '';
  registry.url = url.toString().replace(/\/+$/, '');
}

// ---- error messages ----

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  return JSON.stringify(v);
}

function originOf(key: string, origins: ReadonlyMap<string, string>): string {
  const parts = key.split('.');
  for (let n = parts.length; n > 0; n--) {
    const o = origins.get(parts.slice(0, n).join('.'));
    if (o === undefined) continue;
    if (o.startsWith('env ')) return ` (from ${o.slice(4)})`;
    if (o.startsWith('flag ')) return ` (from ${o.slice(5)})`;
    if (o.startsWith('file ')) return ` (in ${o.slice(5)})`;
  }
  return '';
}

function typeWord(node: SchemaNode | undefined): string {
  if (node === undefined) return 'a valid value';
  if (node.enum !== undefined) return `one of ${node.enum.join(', ')}`;
  if (node['x-expected'] !== undefined) return node['x-expected'];
  switch (node.type) {
    case 'object':
      return node.properties !== undefined
        ? `an object with keys ${Object.keys(node.properties).join(', ')}`
        : 'an object';
    case 'array':
      return 'a list';
    case 'integer':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    default:
      return 'a string';
  }
}

/** Levenshtein distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

function segments(instancePath: string): string[] {
  return instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** One line per problem, one problem per key (the first ajv reports), in ajv's order. */
function explain(errors: readonly ErrorObject[], data: Json, origins: ReadonlyMap<string, string>): string[] {
  const byKey = new Map<string, string>();
  const add = (key: string, line: string) => {
    if (!byKey.has(key)) byKey.set(key, line);
  };
  for (const e of errors) {
    const path = segments(e.instancePath);
    // Array items are reported under their list's key (`kafka.brokers`, not `kafka.brokers.0`).
    const keyPath = path.filter((_, i) => schemaAt(path.slice(0, i))?.type !== 'array');
    const key = keyPath.join('.');
    const join = (k: string) => (key === '' ? k : `${key}.${k}`);
    switch (e.keyword) {
      case 'if':
        break;
      case 'required': {
        const missing = join(String(e.params.missingProperty));
        add(
          missing,
          `${missing}: ${schemaAt(missing.split('.'))?.['x-required'] ?? 'required; set it in the config file'}`,
        );
        break;
      }
      case 'dependencies': {
        const missing = join(String(e.params.missingProperty));
        const hint =
          schemaAt(missing.split('.'))?.['x-required'] ?? `required when ${join(String(e.params.property))} is set`;
        add(missing, `${missing}: ${hint}`);
        break;
      }
      case 'additionalProperties': {
        const extra = String(e.params.additionalProperty);
        const known = Object.keys(schemaAt(keyPath)?.properties ?? {});
        const near = known.filter((k) => distance(k, extra) <= 2);
        const hint = near.length > 0 ? `did you mean ${near.join(' or ')}? ` : '';
        add(
          join(extra),
          `${join(extra)}: unknown key${originOf(join(extra), origins)}; ${hint}known keys${key ? ` of ${key}` : ''}: ${known.join(', ')}`,
        );
        break;
      }
      case 'propertyNames': {
        const name = String(e.params.propertyName);
        add(
          join(name),
          `${key}: ${JSON.stringify(name)} is not a valid topology name${originOf(join(name), origins)}; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
        );
        break;
      }
      default: {
        if (e.propertyName !== undefined) break; // reported by its propertyNames error
        const node = schemaAt(keyPath);
        const value = getAt(data, path);
        const shown = node?.['x-secret'] ? `a ${typeof value} (hidden)` : describe(value);
        add(key, `${key}: expected ${typeWord(node)}, got ${shown}${originOf(key, origins)}`);
      }
    }
  }
  return [...byKey.values()];
}
