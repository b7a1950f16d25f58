/** The topology of the README's "Testing your topology": clicks per page and minute, through a repartition by page. */
import { type Topology, topology, tumbling } from '../../src/index.js';

export interface Click {
  user: string;
  page: string;
}
export interface PageCount {
  page: string;
  window_start: number;
  clicks: number;
}

const CLICK = {
  type: 'record',
  name: 'Click',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'page', type: 'string' },
  ],
};
const COUNT = { type: 'record', name: 'Count', fields: [{ name: 'clicks', type: 'int' }] };
const PAGE_COUNT = {
  type: 'record',
  name: 'PageCount',
  fields: [
    { name: 'page', type: 'string' },
    { name: 'window_start', type: 'long' },
    { name: 'clicks', type: 'int' },
  ],
};

export default function build(): Topology {
  const t = topology({ name: 'clicks', version: 1 });
  const out = t.output<string, PageCount>('page-minutes', { key: 'string', value: PAGE_COUNT });
  t.source<string, Click>('clicks', { key: 'string', value: CLICK })
    .filter((c) => c.page !== '', 'non-empty')
    .groupBy('by_page', (r) => r.value.page, { key: 'string', value: CLICK })
    .windowedBy(tumbling({ sizeMs: 60_000 }))
    .aggregate<{ clicks: number }>('page_minutes', {
      value: COUNT,
      keyName: 'page',
      initializer: () => ({ clicks: 0 }),
      aggregator: (a) => ({ clicks: a.clicks + 1 }),
    })
    .toStream((page, w, a) => ({ key: page, value: { page, window_start: w.startMs, clicks: a.clicks } }), 'final')
    .to(out, 'to-page-minutes');
  return t.build();
}
