/**
 * The series index at scale: creates N series (default 1,000,000) in a
 * fresh store through the public write path (one point each), then times
 * selections by tag matchers (=, !=, =~) and a reopen (the index is rebuilt
 * from the series records). Reports medians of repeated selections.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TimeSeriesStore } from '../../src/tsdb/index.js';
import type { TagMatcher, TsPoint } from '../../src/tsdb/index.js';

export interface SeriesIndexResult {
  series: number;
  createSeriesPerSec: number;
  reopenMs: number;
  heapMiB: number;
  selections: Array<{ name: string; matched: number; medianMs: number }>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runSeriesIndexBench(n: number, progress: (msg: string) => void = () => {}): Promise<SeriesIndexResult> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-series-'));
  try {
    const t0 = Date.UTC(2024, 0, 1);
    const clock = { nowMs: () => t0 + 3_600_000 };
    let store: TimeSeriesStore | undefined = await TimeSeriesStore.open({ dir, clock, maintenanceIntervalMs: 0 });
    const start = performance.now();
    const batch = 10_000;
    for (let i = 0; i < n; i += batch) {
      const pts: TsPoint[] = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        pts.push({
          measurement: 'node',
          tags: [
            ['instance', `host-${j}`],
            ['region', `r${j % 10}`],
            ['az', `az${j % 30}`],
            ['job', `job-${j % 100}`],
          ],
          fields: [{ name: 'v', type: 'float', value: j }],
          timeMs: t0,
        });
      }
      await store.write(pts);
      progress(`series index: ${Math.min(n, i + batch).toLocaleString()} / ${n.toLocaleString()} series`);
    }
    const createSeriesPerSec = n / ((performance.now() - start) / 1000);
    await store.flush();
    await store.close();
    store = undefined;
    // A full collection before and after the reopen, so the heap figure is the index's, not garbage.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const r0 = performance.now();
    store = await TimeSeriesStore.open({ dir, clock, maintenanceIntervalMs: 0 });
    const reopenMs = performance.now() - r0;
    gc();
    const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const cases: Array<{ name: string; matchers: TagMatcher[] }> = [
      { name: 'instance="host-n/2" (1 series)', matchers: [{ tag: 'instance', op: '=', value: `host-${Math.floor(n / 2)}` }] },
      { name: 'job="job-7" (1%)', matchers: [{ tag: 'job', op: '=', value: 'job-7' }] },
      { name: 'region="r3", az="az13" (1/30)', matchers: [{ tag: 'region', op: '=', value: 'r3' }, { tag: 'az', op: '=', value: 'az13' }] },
      { name: 'job=~"job-1[0-9]" (10%)', matchers: [{ tag: 'job', op: '=~', value: 'job-1[0-9]' }] },
      { name: 'region="r1", job!="job-1" (10%)', matchers: [{ tag: 'region', op: '=', value: 'r1' }, { tag: 'job', op: '!=', value: 'job-1' }] },
    ];
    const selections: SeriesIndexResult['selections'] = [];
    for (const c of cases) {
      const times: number[] = [];
      let matched = 0;
      for (let i = 0; i < 7; i++) {
        const t = performance.now();
        matched = store.matchSeries('node', c.matchers).length;
        times.push(performance.now() - t);
      }
      selections.push({ name: c.name, matched, medianMs: median(times) });
    }
    await store.close();
    return { series: n, createSeriesPerSec, reopenMs, heapMiB, selections };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
