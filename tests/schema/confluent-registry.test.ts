/**
 * The Confluent REST client against a scripted fake `fetch` (no server): request shapes (paths, bodies, headers)
 * and how responses and HTTP errors are mapped. The integration test against Apicurio lives elsewhere.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, type EddyError, IncompatibleSchemaError, SchemaRegistryError } from '../../src/errors.js';
import { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import { flightNoDefault, flightV1 } from './fixtures.js';

interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: Record<string, unknown> | undefined;
}
type Reply = [status: number, body: unknown];
type Route = (call: Call) => Reply | undefined;

const notFound: Reply = [404, { error_code: 40401, message: 'Subject not found.' }];

function fake(route: Route) {
  const calls: Call[] = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const call: Call = {
      method: init?.method ?? 'GET',
      url: new URL(String(input)),
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    const [status, body] = route(call) ?? notFound;
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  };
  return { fetch: fetchFn as typeof fetch, calls };
}

const BASE = 'http://127.0.0.1:8080/apis/ccompat/v7';
const path = (c: Call) => c.url.pathname.replace('/apis/ccompat/v7', '') + c.url.search;

async function rejection(p: Promise<unknown>): Promise<EddyError> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: EddyError) => err,
  );
}

describe('ConfluentSchemaRegistry requests', () => {
  it('normalizes the host and moves URL credentials to a basic Authorization header', async () => {
    const f = fake(() => [200, ['b', 'a']]);
    const r = new ConfluentSchemaRegistry({ host: 'http://user:p%40ss@localhost:8081/', fetch: f.fetch });
    expect(r.host).toBe('http://localhost:8081');
    expect(await r.listSubjects()).toEqual(['a', 'b']);
    expect(f.calls[0].url.toString()).toBe('http://localhost:8081/subjects?offset=0&limit=1000');
    expect(f.calls[0].headers.get('authorization')).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
    expect(() => new ConfluentSchemaRegistry({ host: 'localhost:8081' })).toThrow(ConfigError);
    expect(() => new ConfluentSchemaRegistry({ host: 'not a url' })).toThrow(ConfigError);
  });

  it('registers with POST /subjects/{s}/versions, the schema as a JSON string, type AVRO', async () => {
    const f = fake((c) => (c.method === 'POST' ? [200, { id: 7 }] : undefined));
    const r = new ConfluentSchemaRegistry({
      host: BASE,
      auth: { username: 'k', password: 's' },
      clientId: 'eddy-test',
      fetch: f.fetch,
    });
    expect(await r.register('flights/value 1', flightV1)).toBe(7);
    const [call] = f.calls;
    expect(call.url.pathname).toBe('/apis/ccompat/v7/subjects/flights%2Fvalue%201/versions');
    expect(call.body).toEqual({ schema: JSON.stringify(flightV1), schemaType: 'AVRO' });
    expect(call.headers.get('content-type')).toBe('application/vnd.schemaregistry.v1+json');
    expect(call.headers.get('authorization')).toBe(`Basic ${Buffer.from('k:s').toString('base64')}`);
    expect(call.headers.get('user-agent')).toBe('eddy-test');
  });

  it('getById parses the schema text, caches it, and maps 404 to UNKNOWN_SCHEMA_ID', async () => {
    const f = fake((c) => {
      if (path(c) === '/schemas/ids/3') return [200, { schema: JSON.stringify(flightV1) }];
      if (path(c) === '/schemas/ids/4') return [200, { schema: '"string"', schemaType: 'AVRO' }];
      if (path(c) === '/schemas/ids/5') return [200, { schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }];
      return [404, { error_code: 40403, message: 'Schema not found' }];
    });
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: f.fetch });
    const [a, b] = await Promise.all([r.getById(3), r.getById(3)]);
    expect(a).toEqual(flightV1);
    expect(b).toBe(a);
    expect(await r.getById(3)).toBe(a);
    expect(f.calls.length).toBe(1);
    expect(await r.getById(4)).toBe('string');
    expect((await rejection(r.getById(9))).code).toBe('UNKNOWN_SCHEMA_ID');
    expect((await rejection(r.getById(5))).message).toContain('PROTOBUF');
  });

  it('reads versions and subjects; 404 means absent', async () => {
    const v = { subject: 's', id: 3, version: 2, schema: JSON.stringify(flightV1) };
    const f = fake((c) => {
      if (path(c) === '/subjects/s/versions/latest' || path(c) === '/subjects/s/versions/2') return [200, v];
      if (path(c) === '/subjects/s/versions') return [200, [2, 1]];
      return undefined;
    });
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: f.fetch });
    expect(await r.getLatest('s')).toEqual({ id: 3, subject: 's', version: 2, schema: flightV1 });
    expect(await r.getVersion('s', 2)).toEqual({ id: 3, subject: 's', version: 2, schema: flightV1 });
    expect(await r.getLatest('t')).toBeUndefined();
    expect(await r.getVersion('s', 5)).toBeUndefined();
    expect(await r.listVersions('s')).toEqual([1, 2]);
    expect(await r.listVersions('t')).toEqual([]);
    const before = f.calls.length;
    expect(await r.getVersion('s', 0)).toBeUndefined();
    expect(f.calls.length).toBe(before);
  });

  it('compatibility: subject level with defaultToGlobal, falls back to /config; PUT to set', async () => {
    const f = fake((c) => {
      if (c.method === 'PUT') return [200, c.body];
      if (path(c) === '/config/a?defaultToGlobal=true') return [200, { compatibilityLevel: 'FULL_TRANSITIVE' }];
      if (path(c) === '/config') return [200, { compatibilityLevel: 'FORWARD' }];
      return [404, { error_code: 40408, message: 'Subject does not have subject-level compatibility configured' }];
    });
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: f.fetch });
    expect(await r.getCompatibility('a')).toBe('FULL_TRANSITIVE');
    expect(await r.getCompatibility('b')).toBe('FORWARD');
    expect(await r.getCompatibility()).toBe('FORWARD');
    await r.setCompatibility('NONE', 'a');
    await r.setCompatibility('FULL');
    const puts = f.calls.filter((c) => c.method === 'PUT').map((c) => [path(c), c.body]);
    expect(puts).toEqual([
      ['/config/a', { compatibility: 'NONE' }],
      ['/config', { compatibility: 'FULL' }],
    ]);
  });
});

describe('ConfluentSchemaRegistry errors', () => {
  /** A registry holding flightV1 as version 1 of subject "s", at level BACKWARD, that rejects everything else. */
  const strictServer: Route = (c) => {
    const p = path(c);
    if (c.method === 'POST' && p === '/subjects/s/versions') {
      return [409, { error_code: 409, message: 'Schema being registered is incompatible with an earlier schema' }];
    }
    if (c.method === 'POST' && p.startsWith('/compatibility/subjects/s/versions/latest')) {
      return [200, { is_compatible: false, messages: ['READER_FIELD_MISSING_DEFAULT_VALUE'] }];
    }
    if (p === '/config/s?defaultToGlobal=true') return [200, { compatibilityLevel: 'BACKWARD' }];
    if (p === '/subjects/s/versions') return [200, [1]];
    if (p === '/subjects/s/versions/1')
      return [200, { subject: 's', id: 1, version: 1, schema: JSON.stringify(flightV1) }];
    return undefined;
  };

  it('maps HTTP 409 on register to IncompatibleSchemaError naming the field', async () => {
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: fake(strictServer).fetch });
    const err = await rejection(r.register('s', flightNoDefault));
    expect(err).toBeInstanceOf(IncompatibleSchemaError);
    expect(err.message).toContain('BACKWARD');
    expect(err.message).toContain('field "tailNumber"');
    expect(err.message).toContain('version 1 (id 1, latest)');
  });

  it('testCompatibility explains a rejection, and a subject with no versions accepts anything', async () => {
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: fake(strictServer).fetch });
    expect(await r.testCompatibility('s', flightNoDefault)).toContain('field "tailNumber"');
    expect(await r.testCompatibility('other', flightNoDefault)).toBeNull();
  });

  it('retries 5xx and then succeeds', async () => {
    let n = 0;
    const f = fake(() => (++n < 3 ? [503, { error_code: 50003, message: 'busy' }] : [200, { id: 1 }]));
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: f.fetch });
    expect(await r.register('s', 'string')).toBe(1);
    expect(f.calls.length).toBe(3);
  });

  it('gives up after the retries with a retriable SchemaRegistryError carrying status and error_code', async () => {
    const f = fake(() => [500, { error_code: 50001, message: 'Error in the backend data store' }]);
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: f.fetch, retries: 1 });
    const err = await rejection(r.listSubjects());
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect(err.retriable).toBe(true);
    expect(err.details).toMatchObject({ status: 500, errorCode: 50001 });
    expect(err.message).toContain('Error in the backend data store');
    expect(f.calls.length).toBe(2);
  });

  it('reports an unreachable registry and does not retry 4xx', async () => {
    const down = new ConfluentSchemaRegistry({
      host: BASE,
      retries: 0,
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as typeof fetch,
    });
    const err = await rejection(down.listSubjects());
    expect(err.message).toMatch(/unreachable.*fetch failed/);
    const f = fake(() => [401, { error_code: 40101, message: 'Unauthorized' }]);
    const r = new ConfluentSchemaRegistry({ host: BASE, fetch: f.fetch });
    const denied = await rejection(r.listSubjects());
    expect(denied.message).toContain('credentials');
    expect(denied.retriable).toBe(false);
    expect(f.calls.length).toBe(1);
  });
});
