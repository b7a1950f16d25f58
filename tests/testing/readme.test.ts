/** The README's "Testing your topology" examples, as written there (imports from the source instead of 'eddy'). */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { goldenCases, goldenTest, TopologyTestDriver } from '../../src/index.js';
import build from './clicks.js';

it('counts clicks per page and minute', async () => {
  const driver = await TopologyTestDriver.create(build());
  try {
    await driver.pipeInput('clicks', 'u1', { user: 'u1', page: '/a' }, 1_000);
    await driver.pipeInput('clicks', 'u2', { user: 'u2', page: '/a' }, 2_000);
    await driver.pipeInput('clicks', 'u3', { user: 'u3', page: '' }, 3_000); // filtered out
    // a window closes when event time passes its end: a later record closes the first minute
    await driver.pipeInput('clicks', 'u1', { user: 'u1', page: '/b' }, 61_000);
    expect(driver.readOutput('page-minutes.v1').map((r) => r.value)).toEqual([
      { page: '/a', window_start: 0, clicks: 2 },
    ]);
    expect(driver.windowStore('page_minutes').get('/b', 60_000)).toEqual({ clicks: 1 });
    expect(driver.readDeadLetters()).toEqual([]);
  } finally {
    await driver.close();
  }
});

const root = fileURLToPath(new URL('./golden', import.meta.url));
for (const c of goldenCases(root)) it(c, () => goldenTest(`${root}/${c}`, { topology: build }));
