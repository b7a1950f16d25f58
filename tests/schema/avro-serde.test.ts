import avsc from 'avsc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EddyError, SerdeError } from '../../src/errors.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';
import { flight, flightV1, flightV2, flightWithoutDistance } from './fixtures.js';

type Flight = typeof flight;

let registry: LocalSchemaRegistry;
beforeEach(() => {
  registry = LocalSchemaRegistry.open(':memory:');
});
afterEach(async () => {
  await registry.close();
});

/** Runs `fn` and returns what it threw (fails the test if it did not throw). */
async function thrown(fn: () => unknown): Promise<EddyError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EddyError);
    return err as EddyError;
  }
  throw new Error('expected an error, none was thrown');
}

describe('AvroSerde round trip and wire format', () => {
  it('round-trips a record; timestamp-millis longs stay plain numbers', async () => {
    const serde = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const back = serde.deserialize(serde.serialize(flight));
    expect({ ...back }).toStrictEqual(flight);
    expect(typeof back.date).toBe('number');
  });

  it('round-trips nested types: unions, arrays, maps, enums', async () => {
    const schema = {
      type: 'record',
      name: 'Trip',
      fields: [
        { name: 'note', type: ['null', 'string'], default: null },
        { name: 'legs', type: { type: 'array', items: 'string' } },
        { name: 'tags', type: { type: 'map', values: 'long' } },
        { name: 'cabin', type: { type: 'enum', name: 'Cabin', symbols: ['ECONOMY', 'BUSINESS'] } },
      ],
    };
    const serde = await AvroSerde.create<Record<string, unknown>>(registry, 'trips-value', schema);
    const value = { note: 'late', legs: ['SFO', 'ORD'], tags: { a: 2 ** 40 }, cabin: 'BUSINESS' };
    expect({ ...serde.deserialize(serde.serialize(value)) }).toStrictEqual(value);
    const none = { ...value, note: null };
    expect(serde.deserialize(serde.serialize(none)).note).toBeNull();
  });

  it('round-trips a primitive (string key) schema', async () => {
    const serde = await AvroSerde.create<string>(registry, 'flights-key', 'string');
    expect(serde.deserialize(serde.serialize('SFO'))).toBe('SFO');
  });

  it('writes magic byte 0x00, the schema id as int32 big-endian, then the Avro binary', async () => {
    await registry.register('other-value', 'long'); // id 1
    const serde = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    expect(serde.schemaId).toBe(2);
    const buf = serde.serialize(flight);
    expect([...buf.subarray(0, 5)]).toEqual([0x00, 0x00, 0x00, 0x00, 0x02]);
    expect(buf.subarray(5).equals(avsc.Type.forSchema(flightV1 as avsc.Schema).toBuffer(flight))).toBe(true);
    expect(AvroSerde.schemaIdOf(buf)).toBe(2);
  });

  it('reads big-endian ids of all four bytes', () => {
    expect(AvroSerde.schemaIdOf(Buffer.from([0, 0x01, 0x02, 0x03, 0x04, 0x00]))).toBe(0x01020304);
  });

  it('grows its scratch buffer for large values and returns exact-size buffers', async () => {
    const serde = await AvroSerde.create<string>(registry, 'blobs-value', 'string');
    const big = 'x'.repeat(100_000);
    const buf = serde.serialize(big);
    expect(buf.length).toBe(5 + 3 + big.length); // zig-zag varint of 100000 takes 3 bytes
    expect(serde.deserialize(buf)).toBe(big);
    expect(serde.serialize('a').length).toBe(5 + 1 + 1);
  });
});

describe('AvroSerde schema resolution (writer -> reader)', () => {
  it('fills a field added in the reader schema with its default', async () => {
    const writer = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const reader = await AvroSerde.create<Flight & { carrier: string | null }>(registry, 'flights-value', flightV2);
    expect(reader.schemaId).not.toBe(writer.schemaId);
    await reader.prepare([writer.schemaId]);
    expect({ ...reader.deserialize(writer.serialize(flight)) }).toStrictEqual({ ...flight, carrier: null });
  });

  it('drops a field removed in the reader schema', async () => {
    const writer = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const reader = await AvroSerde.create<Omit<Flight, 'distance'>>(registry, 'flights-value', flightWithoutDistance);
    await reader.prepare([writer.schemaId]);
    const { distance: _, ...rest } = flight;
    expect({ ...reader.deserialize(writer.serialize(flight)) }).toStrictEqual(rest);
  });

  it('prepare fails with a SerdeError naming the field when the writer cannot be resolved', async () => {
    const reader = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const otherId = await registry.register('elsewhere', {
      ...flightV1,
      fields: flightV1.fields.map((f) => (f.name === 'delay' ? { name: 'delay', type: 'string' } : f)),
    });
    const err = await thrown(() => reader.prepare([otherId]));
    expect(err).toBeInstanceOf(SerdeError);
    expect(err.message).toContain('"delay"');
    expect(err.message).toContain(`schema id ${otherId}`);
    expect(err.details).toMatchObject({ subject: 'flights-value', schemaId: otherId });
  });
});

describe('AvroSerde errors', () => {
  it('rejects a wrong magic byte and short buffers', async () => {
    const serde = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const buf = serde.serialize(flight);
    buf[0] = 0x7b; // '{', e.g. a JSON value
    const bad = await thrown(() => serde.deserialize(buf));
    expect(bad).toBeInstanceOf(SerdeError);
    expect(bad.message).toMatch(/magic byte is 0x7b/);
    const short = await thrown(() => AvroSerde.schemaIdOf(Buffer.from([0, 0, 0])));
    expect(short).toBeInstanceOf(SerdeError);
    expect(short.message).toMatch(/3 byte\(s\)/);
  });

  it('rejects an id that was not prepared, and prepare rejects an unknown id', async () => {
    const serde = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const buf = serde.serialize(flight);
    buf.writeInt32BE(999, 1);
    const notPrepared = await thrown(() => serde.deserialize(buf));
    expect(notPrepared).toBeInstanceOf(SerdeError);
    expect(notPrepared.message).toMatch(/999.*prepare/);
    expect(notPrepared.details).toMatchObject({ subject: 'flights-value', schemaId: 999 });
    const unknown = await thrown(() => serde.prepare([999]));
    expect(unknown).toBeInstanceOf(SerdeError);
    expect(unknown.message).toContain('999');
    expect((unknown.cause as EddyError).code).toBe('UNKNOWN_SCHEMA_ID');
  });

  it('rejects truncated payloads and trailing bytes', async () => {
    const serde = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const buf = serde.serialize(flight);
    const truncated = await thrown(() => serde.deserialize(buf.subarray(0, buf.length - 2)));
    expect(truncated).toBeInstanceOf(SerdeError);
    expect(truncated.message).toMatch(/Truncated/);
    expect(truncated.details).toMatchObject({ subject: 'flights-value', schemaId: serde.schemaId });
    const trailing = await thrown(() => serde.deserialize(Buffer.concat([buf, Buffer.from([1, 2])])));
    expect(trailing).toBeInstanceOf(SerdeError);
    expect(trailing.message).toMatch(/Trailing bytes/);
    const empty = await thrown(() => serde.deserialize(buf.subarray(0, 5)));
    expect(empty.message).toMatch(/Truncated/);
  });

  it('serialize names the subject and the field path of a wrong value', async () => {
    const serde = await AvroSerde.create<Flight>(registry, 'flights-value', flightV1);
    const err = await thrown(() => serde.serialize({ ...flight, delay: 'late' as unknown as number }));
    expect(err).toBeInstanceOf(SerdeError);
    expect(err.message).toContain('"flights-value"');
    expect(err.message).toContain('field "delay" expects int but got "late" (string)');
    const missing = await thrown(() => serde.serialize({ ...flight, origin: undefined as unknown as string }));
    expect(missing.message).toContain('field "origin" expects string but got undefined (missing)');
  });

  it('serialize reports nested paths', async () => {
    const schema = {
      type: 'record',
      name: 'Route',
      fields: [
        {
          name: 'legs',
          type: { type: 'array', items: { type: 'record', name: 'Leg', fields: [{ name: 'to', type: 'string' }] } },
        },
      ],
    };
    const serde = await AvroSerde.create<unknown>(registry, 'routes-value', schema);
    const err = await thrown(() => serde.serialize({ legs: [{ to: 'SFO' }, { to: 42 }] }));
    expect(err.message).toContain('field "legs.1.to" expects string but got 42 (number)');
  });
});
