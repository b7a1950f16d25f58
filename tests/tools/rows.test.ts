/** Reading `eddy produce` input rows and coercing them to Avro types; dead-letter reason grouping. No log needed. */
import { describe, expect, it } from 'vitest';
import { parseSchema } from '../../src/schema/avro.js';
import { deadLetterOf, normaliseReason, summarize } from '../../src/tools/dlq.js';
import { timestampOf } from '../../src/tools/produce.js';
import { coerce, parseRows, problemsOf } from '../../src/tools/rows.js';

const schema = parseSchema({
  type: 'record',
  name: 'Row',
  fields: [
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'n', type: 'int' },
    { name: 'ratio', type: 'double' },
    { name: 'ok', type: 'boolean' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
    { name: 'name', type: 'string' },
  ],
});

describe('produce rows', () => {
  it('reads CSV text as the schema asks: numbers, booleans, ISO times, empty as null, defaults', () => {
    const rows = parseRows('at,n,ratio,ok,note,name\n2001-01-01T00:00:00Z,7,0.5,TRUE,,x\n', 'csv', 'f.csv');
    expect(rows).toEqual([
      {
        row: 1,
        line: 2,
        fromText: true,
        fields: { at: '2001-01-01T00:00:00Z', n: '7', ratio: '0.5', ok: 'TRUE', note: '', name: 'x' },
      },
    ]);
    const v = coerce(schema, rows[0].fields, true);
    expect(v).toEqual({
      at: Date.parse('2001-01-01T00:00:00Z'),
      n: 7,
      ratio: 0.5,
      ok: true,
      note: null,
      tags: [],
      name: 'x',
    });
    expect(problemsOf(schema, v, '(value)')).toEqual([]);
  });

  it('leaves JSON values as they are (a string is not a number there) and names the field that does not fit', () => {
    const [r] = parseRows('\n{"at": 1, "n": "7", "ratio": 1, "ok": false, "name": "x"}\n', 'jsonl', 'stdin');
    expect(r.line).toBe(2);
    expect(problemsOf(schema, coerce(schema, r.fields, false), '(value)')).toEqual([
      { field: 'n', problem: 'expects int but got "7" (string)' },
    ]);
  });

  it('refuses a JSON line that is not an object, naming the row', () => {
    expect(() => parseRows('{"a":1}\n[1]\n', 'jsonl', 'in.jsonl')).toThrow('in.jsonl: not valid JSON lines at row 2');
  });

  it('reads timestamps as ms or ISO-8601', () => {
    expect(timestampOf(5)).toBe(5);
    expect(timestampOf('5')).toBe(5);
    expect(timestampOf('2001-01-01T00:00:00Z')).toBe(978307200000);
    expect(timestampOf('soon')).toBeUndefined();
    expect(timestampOf(undefined)).toBeUndefined();
  });
});

describe('dead-letter reasons', () => {
  it('group with their numbers as N', () => {
    expect(normaliseReason('delay 912 over 100 (x=-3.5)')).toBe('delay N over N (x=N)');
    const dl = (reason: string, offset: number) =>
      deadLetterOf({
        topic: 't.v1.dlq',
        partition: 0,
        offset,
        key: null,
        value: null,
        timestamp: 0,
        headers: {
          'eddy.dlq.reason': Buffer.from(reason),
          'eddy.dlq.processor': Buffer.from('p'),
          'eddy.source.topic': Buffer.from('in'),
        },
      });
    expect(summarize([dl('a 1', 0), dl('b', 1), dl('a 22', 2)])).toEqual([
      { reason: 'a N', processor: 'p', source_topic: 'in', count: 2, first: 't.v1.dlq:0:0' },
      { reason: 'b', processor: 'p', source_topic: 'in', count: 1, first: 't.v1.dlq:0:1' },
    ]);
  });
});
