/**
 * Architecture checks (DESIGN.md "One process, layered"): no circular
 * imports, imports point down the layer list, and other layers use a
 * layer's index.ts, never its inner files (except within the layer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');
const src = join(root, 'src');

/** Layers from top to bottom; a file may import only from its own layer or lower ones. */
const ORDER = ['cli', 'web', 'server', 'client', 'node', 'cluster', 'replication', 'tsdb', 'engine', 'base'];

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const layerOf = (file: string) => relative(src, file).split('/')[0]!;

test('imports point down the layer list and go through index.ts', () => {
  const problems: string[] = [];
  for (const file of walk(src)) {
    const from = layerOf(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/gm)) {
      const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
      const to = layerOf(target);
      if (to === from || !target.startsWith(src)) continue;
      if (to === 'index.ts') {
        // The package entry re-exports the layers; only the top layers may use it.
        if (!['cli', 'web', 'server'].includes(from)) problems.push(`${relative(root, file)} imports the package entry`);
        continue;
      }
      if (to === 'sim') problems.push(`${relative(root, file)} imports the test-only sim layer`);
      else if (from !== 'index.ts' && ORDER.indexOf(to) < ORDER.indexOf(from)) problems.push(`${relative(root, file)} imports upward into ${to}`);
      const rel = relative(join(src, to), target);
      if (rel !== 'index.ts' && !/^[a-z]+\/index\.ts$/.test(rel)) problems.push(`${relative(root, file)} imports ${to}'s inner file ${rel}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('no circular imports (madge)', async () => {
  const require = createRequire(import.meta.url);
  const madge = require('madge') as (path: string, cfg: object) => Promise<{ circular(): string[][] }>;
  const res = await madge(src, { fileExtensions: ['ts'], detectiveOptions: { ts: { skipTypeImports: true } } });
  assert.deepEqual(res.circular(), []);
});

test('deterministic cores read no wall clock, no Math.random and no timers', () => {
  const problems: string[] = [];
  for (const file of [...walk(join(src, 'replication')), ...walk(join(src, 'sim'))]) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const banned of ['Date.now', 'new Date', 'Math.random', 'performance.now', 'hrtime', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask']) {
      if (text.includes(banned)) problems.push(`${relative(root, file)} uses ${banned}`);
    }
  }
  assert.deepEqual(problems, []);
});
