// The embedded time-series store, as the README shows it: write line
// protocol (as points, and as columns), query a per-minute maximum, read the
// plan, close (which seals).
// Run after `npm run build`: node examples/timeseries.mjs
import { tsdb } from 'stratadb';

const store = await tsdb.TimeSeriesStore.open({ dir: './ts-data' });
const t0 = Date.UTC(2025, 0, 1);
const lines = [];
for (let i = 0; i < 180; i++) lines.push(`cpu,host=a usage=${(i % 60) + 0.5} ${t0 + i * 1000}`);
await store.write(tsdb.parseLineProtocol(lines.join('\n'), { precision: 'ms', nowMs: t0 }));
// Big batches go in as columns (no object per point), as the HTTP routes write them.
const hostB = lines.map((l) => l.replace('host=a', 'host=b').replace(/usage=[0-9.]+/, (u) => `usage=${Number(u.slice(6)) * 2}`));
await store.writeColumns(tsdb.parseLineProtocolColumns(hostB.join('\n'), { precision: 'ms', nowMs: t0 }));
const { series, plan } = await store.query({
  measurement: 'cpu',
  fromMs: t0,
  toMs: t0 + 3 * 60_000,
  aggregate: { fn: 'max', every: { ms: 60_000 } },
});
for (const s of series) for (let i = 0; i < s.times.length; i++) console.log(`${new Date(s.times[i]).toISOString()} host=${s.tags.host} max(${s.field}) = ${s.values[i]}`);
console.log(`plan: ${plan.segments.map((seg) => seg.level).join(', ')}`);
await store.close();
