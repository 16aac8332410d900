// A real Prometheus (Debian package `prometheus`) scrapes `strata serve`'s
// /metrics and keeps its samples in StrataDB through remote write 1.0
// (snappy-compressed protobuf at /api/v1/write); the samples are then read
// back through the time-series query API, and their labels are tags.
// Skipped with a message when the prometheus binary is missing (.ci/run
// installs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../helpers/serve-process.js';

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';
const available = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' }).status === 0;

interface QueryReply {
  series: Array<{ tags: Record<string, string>; field: string; times: number[]; values: Array<number | string> }>;
}

test('Prometheus remote write: scraped samples land as series and read back', { skip: available ? false : 'prometheus is not installed (apt-get install prometheus)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-prom-'));
  const strata = await serve(['--data-dir', join(dir, 'data'), '--protocols', 'http']);
  const base = `http://127.0.0.1:${strata.ports.http}`;
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: strata',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${strata.ports.http}']`,
      'remote_write:',
      `  - url: ${base}/api/v1/write`,
      '    queue_config:',
      '      batch_send_deadline: 1s',
      '      max_samples_per_send: 500',
      '',
    ].join('\n'),
  );
  const prom = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'prom')}`, '--web.listen-address=127.0.0.1:0', '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr.on('data', (d: Buffer) => (promLog += d.toString()));
  const promExited = new Promise<void>((r) => prom.on('exit', () => r()));
  try {
    // Poll until Prometheus has scraped and sent `up` (it retries failed sends, so nothing is lost while we wait).
    const query = async (measurement: string): Promise<QueryReply> => {
      const res = await fetch(`${base}/v1/ts/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ measurement, fromMs: 0, toMs: Date.now() + 3_600_000 }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as QueryReply;
    };
    let up: QueryReply = { series: [] };
    const deadline = Date.now() + 60_000;
    while (up.series.length === 0 || up.series[0]!.values.length < 2) {
      if (Date.now() > deadline) assert.fail(`no samples from Prometheus within 60 s; its log:\n${promLog}\nstrata:\n${strata.stderr()}`);
      await new Promise((r) => setTimeout(r, 250)); // polling an external process, not synchronising our own code
      up = await query('up');
    }
    const s = up.series[0]!;
    assert.equal(s.field, 'value');
    assert.equal(s.tags.job, 'strata');
    assert.equal(s.tags.instance, `127.0.0.1:${strata.ports.http}`);
    assert.ok(s.values.every((v) => v === 1), `up is 1: ${JSON.stringify(s.values)}`);
    // Timestamps are the scrape times, about a second apart.
    assert.ok(s.times[1]! - s.times[0]! >= 500 && s.times[1]! - s.times[0]! <= 5_000, JSON.stringify(s.times));
    // StrataDB's own metrics came along, labels as tags.
    const total = await query('strata_commands_total');
    assert.ok(total.series.length > 0, 'strata_commands_total was written');
    assert.ok(total.series.some((x) => x.tags.job === 'strata' && x.tags.protocol === 'http' && typeof x.tags.command === 'string'), JSON.stringify(total.series.map((x) => x.tags)));
  } finally {
    prom.kill('SIGTERM');
    await promExited;
    strata.child.kill('SIGTERM');
    assert.equal(await strata.exited, 0, strata.stderr());
  }
});
