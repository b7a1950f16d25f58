/**
 * Secured connections, end to end, as a new user would run eddy: a second local broker that only speaks
 * SASL_SSL (SCRAM-SHA-512 over TLS with a throwaway CA: `scripts/kafka-local` with `KAFKA_SECURITY=sasl_ssl`),
 * started once for this file and stopped after it, pass or fail; and the suite's Apicurio registry behind a
 * loopback proxy that requires HTTP basic auth.
 *
 * The proxy is a test stand-in for a registry with authentication: Apicurio's own authentication needs a Keycloak
 * (OIDC) server, which this suite does not run. It checks the `Authorization` header exactly as a registry with
 * basic auth would, and forwards accepted requests to the real registry unchanged.
 *
 * Ports: the secured broker listens on KAFKA_SECURE_PORT, default KAFKA_PORT+3 (controller +1 more), so that it
 * sits beside the plain broker of the global setup (KAFKA_PORT, KAFKA_PORT+1).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaLog } from '../../src/log/kafka/index.js';
import { eddy, type Proc, ROOT } from '../helpers/proc.js';
import { kafkaEnv } from './helpers.js';

const SCRIPT = join(ROOT, 'scripts', 'kafka-local');
const PORT = Number(process.env.KAFKA_SECURE_PORT ?? Number(process.env.KAFKA_PORT ?? 9092) + 3);
const USER = 'eddy-app';
/** Random per run, so that finding it anywhere means it was leaked, not that some text happened to contain it. */
const PASSWORD = `kpw-${randomBytes(12).toString('hex')}`;
const REGISTRY_USER = 'eddy-registry';
const REGISTRY_PASSWORD = `rpw-${randomBytes(12).toString('hex')}`;
const OUTPUT = 'airport-delays-hourly.v1';
const LIMIT = 2_000;

const dataDir = mkdtempSync(join(tmpdir(), 'eddy-kafka-secure-'));
const brokerEnv: NodeJS.ProcessEnv = {
  ...process.env,
  KAFKA_SECURITY: 'sasl_ssl',
  KAFKA_PORT: String(PORT),
  KAFKA_CONTROLLER_PORT: String(PORT + 1),
  KAFKA_DATA_DIR: join(dataDir, 'broker'),
  KAFKA_SCRAM_USER: USER,
  KAFKA_SCRAM_PASSWORD: PASSWORD,
};
const caFile = join(dataDir, 'broker', 'tls', 'ca.pem');

/**
 * Stops the secured broker (synchronously: also used on process exit, when afterAll never ran), only when this file
 * started it: its CA in this file's data directory says so. Otherwise `stop` would stop whatever broker another run
 * has on the port (the pid file is per port), e.g. when `beforeAll` failed before starting one.
 */
function stopBroker(): void {
  if (existsSync(caFile)) spawnSync(SCRIPT, ['stop'], { env: brokerEnv, stdio: 'ignore' });
}

/** What the basic-auth proxy saw. */
const seen = { accepted: 0, refused: 0 };
let proxy: Server | undefined;
let proxyUrl = '';

/** A loopback proxy to `upstream` that answers 401 unless the request carries `user:password` as basic auth. */
function startProxy(upstream: string): Promise<Server> {
  const expected = `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`;
  const server = createServer((req, res) => {
    void (async () => {
      if (req.headers.authorization !== expected) {
        seen.refused++;
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="registry"' });
        res.end(JSON.stringify({ error_code: 40101, message: 'Unauthorized' }));
        return;
      }
      seen.accepted++;
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const h of ['accept', 'content-type', 'user-agent']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const up = await fetch(upstream + (req.url ?? '/'), {
        method: req.method,
        headers,
        body: body.length > 0 ? body : undefined,
      });
      res.writeHead(up.status, { 'Content-Type': up.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await up.arrayBuffer()));
    })().catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every process this file ran, for the leak checks. */
const procs: Proc[] = [];

/** The environment of a new user's eddy: the documented keys for SASL, the TLS CA and registry basic auth. */
function secureEnv(over: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: `127.0.0.1:${PORT}`,
    KAFKA_SSL_CA_FILE: caFile,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: USER,
    KAFKA_SASL_PASSWORD: PASSWORD,
    SCHEMA_REGISTRY_URL: proxyUrl,
    SCHEMA_REGISTRY_USERNAME: REGISTRY_USER,
    SCHEMA_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
    EDDY_DATA_DIR: join(dataDir, 'eddy'),
    EDDY_HTTP_PORT: '0',
    ...over,
  };
}

async function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  const p = eddy([...args, '--backend', 'kafka'], env, { cwd: dataDir });
  procs.push(p);
  const { code } = await p.exit;
  return { code, out: p.lines.map((l) => (l.unparsed ? l.msg : JSON.stringify(l))).join('\n'), err: p.stderr() };
}

/** The topic's record count, read by the test's own client over SASL_SSL. */
async function recordsIn(topic: string): Promise<number> {
  const log = new KafkaLog({
    brokers: [`127.0.0.1:${PORT}`],
    clientId: 'secure-test',
    sslCaFile: caFile,
    sasl: { mechanism: 'scram-sha-512', username: USER, password: PASSWORD },
    logLevel: 'nothing',
  });
  try {
    let n = 0; // records read, not offsets: transaction markers take offsets too
    for (const o of await log.offsets(topic))
      for await (const batch of log.read({ topic, partition: o.partition })) n += batch.length;
    return n;
  } finally {
    await log.close();
  }
}

describe('secured connections (SASL/SCRAM-SHA-512 over TLS; registry basic auth)', () => {
  beforeAll(async () => {
    process.once('exit', stopBroker);
    proxy = await startProxy(kafkaEnv().registryUrl);
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    await new Promise<void>((resolve, reject) =>
      execFile(SCRIPT, ['start'], { env: brokerEnv }, (err, _out, stderr) =>
        err ? reject(new Error(`secured broker did not start: ${stderr}`)) : resolve(),
      ),
    );
    // `start` reuses a broker already running on the port: it must be this file's (its CA, its user), not another's
    if (!existsSync(caFile))
      throw new Error(
        `a broker not started by this file runs on 127.0.0.1:${PORT}; stop it (KAFKA_PORT=${PORT} scripts/kafka-local stop) or set KAFKA_SECURE_PORT`,
      );
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    stopBroker();
    process.removeListener('exit', stopBroker);
    await new Promise((resolve) => (proxy === undefined ? resolve(undefined) : proxy.close(resolve)));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the registry proxy refuses requests without the right credentials', async () => {
    for (const auth of [undefined, `Basic ${Buffer.from(`${REGISTRY_USER}:wrong`).toString('base64')}`]) {
      const res = await fetch(`${proxyUrl}/subjects`, { headers: auth ? { Authorization: auth } : {} });
      expect(res.status).toBe(401);
    }
    const ok = await fetch(`${proxyUrl}/subjects`, {
      headers: { Authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}` },
    });
    expect(ok.status).toBe(200);
  });

  it('eddy load and eddy run --until-idle connect with the documented keys and process every record', async () => {
    const before = { ...seen };
    const load = await run(['load', '--limit', String(LIMIT), '--no-progress'], secureEnv());
    expect(load.err).toBe('');
    expect(load.code).toBe(0);
    expect(load.out).toContain(`loaded ${LIMIT} flights into topic flights`);
    const ran = await run(['run', 'flight-delays', '--until-idle', '--no-progress'], secureEnv());
    expect(ran.err).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.out).toContain(`processed ${LIMIT} input records`);
    const printed = Number(new RegExp(`${OUTPUT.replace(/\./g, '\\.')}: (\\d+)`).exec(ran.out)?.[1]);
    expect(printed).toBeGreaterThan(0);
    expect(await recordsIn(OUTPUT)).toBe(printed);
    // every registry call of eddy's went through the proxy with its credentials, none was refused
    expect(seen.accepted).toBeGreaterThan(before.accepted);
    expect(seen.refused).toBe(before.refused);
  });

  it('a worker over SASL_SSL gets its tasks, logging no secret even at debug level', async () => {
    const w = eddy(['worker', 'flight-delays', '--backend', 'kafka', '--log-level', 'debug'], secureEnv(), {
      cwd: dataDir,
    });
    procs.push(w);
    await w.waitFor((l) => l.event === 'ready', 90_000);
    w.child.kill('SIGTERM');
    expect((await w.exit).code).toBe(0);
    expect(w.lines.length).toBeGreaterThan(0);
  });

  it('a wrong SASL password is refused with one line naming SASL authentication, exit code 1', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const r = await run(['load', '--limit', '10', '--no-progress'], secureEnv({ KAFKA_SASL_PASSWORD: wrong }));
    expect(r.code).toBe(1);
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^eddy: Kafka .*SASL authentication failed: .*invalid credentials.*kafka\.sasl\.password/);
    expect(r.err + r.out).not.toContain(wrong);
  });

  it('a wrong registry password is refused by the registry with a clear error', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const before = seen.refused;
    const r = await run(['load', '--limit', '10', '--no-progress'], secureEnv({ SCHEMA_REGISTRY_PASSWORD: wrong }));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^eddy: Schema registry .* failed with HTTP 401.*Check the registry credentials\.\n$/);
    expect(seen.refused).toBeGreaterThan(before);
    expect(r.err + r.out).not.toContain(wrong);
  });

  it('eddy config hides both passwords, also when the registry URL carries them', async () => {
    const withUrl = secureEnv({
      SCHEMA_REGISTRY_USERNAME: '',
      SCHEMA_REGISTRY_PASSWORD: '',
      SCHEMA_REGISTRY_URL: proxyUrl.replace('http://', `http://${REGISTRY_USER}:${REGISTRY_PASSWORD}@`),
    });
    for (const env of [secureEnv(), withUrl]) {
      const r = await run(['config'], env);
      expect(r.code).toBe(0);
      const shown = JSON.parse(r.out) as {
        config: { kafka: Record<string, unknown>; schemaRegistry: Record<string, unknown> };
      };
      expect(shown.config.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: USER, password: '***' });
      expect(shown.config.kafka.ssl).toBe(true);
      expect(shown.config.schemaRegistry).toEqual({
        url: proxyUrl,
        username: REGISTRY_USER,
        password: '***',
        maxOutageMs: 600_000,
      });
    }
  });

  it("no password appears in any output of any eddy process of this file, nor in eddy's data directory", () => {
    expect(procs.length).toBeGreaterThanOrEqual(7);
    for (const p of procs) {
      const all = `${p.stderr()}\n${JSON.stringify(p.lines)}`;
      expect(all).not.toContain(PASSWORD);
      expect(all).not.toContain(REGISTRY_PASSWORD);
      expect(all).not.toContain(Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64'));
    }
    const files = readdirSync(join(dataDir, 'eddy'), { recursive: true, withFileTypes: true }).filter((f) =>
      f.isFile(),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(join(f.parentPath, f.name));
      expect(bytes.includes(PASSWORD), f.name).toBe(false);
      expect(bytes.includes(REGISTRY_PASSWORD), f.name).toBe(false);
    }
  });
});
