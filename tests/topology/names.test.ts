import { describe, expect, it } from 'vitest';
import {
  changelogTopic,
  checkName,
  deadLetterTopic,
  groupId,
  outputTopic,
  repartitionTopic,
  taskId,
  transactionalId,
  versionId,
} from '../../src/topology/names.js';

describe('names (as in DESIGN.md)', () => {
  it('formats every derived name exactly', () => {
    expect(outputTopic('airport-delays-hourly', 1)).toBe('airport-delays-hourly.v1');
    expect(changelogTopic('flight-delays', 1, 'delays_by_airport_hour')).toBe(
      'flight-delays.v1.delays_by_airport_hour.changelog',
    );
    expect(repartitionTopic('flight-delays', 1, 'route_stats')).toBe('flight-delays.v1.route_stats.repartition');
    expect(deadLetterTopic('flight-delays', 1)).toBe('flight-delays.v1.dlq');
    expect(groupId('flight-delays', 1)).toBe('flight-delays.v1');
    expect(versionId('flight-delays', 12)).toBe('flight-delays.v12');
    expect(taskId(1, 3)).toBe('1_3');
    expect(transactionalId('flight-delays', 1, '0_3')).toBe('flight-delays.v1-0_3');
  });

  it('a new version gets new names for everything it writes', () => {
    expect(outputTopic('airport-delays-hourly', 2)).toBe('airport-delays-hourly.v2');
    expect(changelogTopic('flight-delays', 2, 'route_stats')).toBe('flight-delays.v2.route_stats.changelog');
    expect(deadLetterTopic('flight-delays', 2)).toBe('flight-delays.v2.dlq');
    expect(groupId('flight-delays', 2)).toBe('flight-delays.v2');
  });
});

describe('checkName', () => {
  it.each(['flights', 'flight-delays', 'delays_by_airport_hour', 'a.b', '0day', 'A', 'x'.repeat(200)])(
    'accepts %s',
    (name) => {
      expect(checkName('store', name)).toBe(name);
    },
  );

  it.each([
    ['', 'empty'],
    ['has space', 'a space'],
    ['-leading-dash', 'a leading dash'],
    ['.hidden', 'a leading dot'],
    ['_under', 'a leading underscore'],
    ['a/b', 'a slash'],
    ['café', 'a non-ASCII letter'],
    ['tab\t', 'a tab'],
    ['new\nline', 'a newline'],
    ['x'.repeat(201), 'over 200 characters'],
  ])('rejects %j (%s) with a message naming what, the name and the rule', (name) => {
    expect(() => checkName('store', name)).toThrow(RangeError);
    expect(() => checkName('store', name)).toThrow(
      `store "${name}" is not a valid name: use letters, digits, '.', '_' and '-' (start with a letter or digit), at most 200 characters`,
    );
  });
});
