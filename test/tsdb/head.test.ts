// SeriesHead against a plain model: appends with varying fields and types,
// removals, and the chunk data it hands to seals and reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeriesHead } from '../../src/tsdb/head.js';
import type { FieldType, FieldValue } from '../../src/tsdb/types.js';

const TYPES: FieldType[] = ['float', 'integer', 'boolean', 'string'];

interface ModelRow {
  t: number;
  seq: number;
  nanos: number;
  vals: Map<number, FieldValue>;
}

function modelChunk(rows: readonly ModelRow[], pick: (t: number) => boolean, fields?: ReadonlySet<number>) {
  const idx = rows.map((r, i) => [r, i] as const).filter(([r]) => pick(r.t));
  idx.sort((a, b) => a[0].t - b[0].t || a[1] - b[1]);
  const times: number[] = [];
  const nanos: number[] = [];
  const merged: Array<Map<number, FieldValue>> = [];
  for (const [r] of idx) {
    if (times.length > 0 && times[times.length - 1] === r.t) {
      nanos[nanos.length - 1] = r.nanos;
      for (const [id, v] of r.vals) merged[merged.length - 1]!.set(id, v);
    } else {
      times.push(r.t);
      nanos.push(r.nanos);
      merged.push(new Map(r.vals));
    }
  }
  const columns = new Map<number, { type: FieldType; values: Array<FieldValue | undefined> }>();
  for (let id = 0; id < TYPES.length; id++) {
    if (fields !== undefined && !fields.has(id)) continue;
    const values = merged.map((m) => m.get(id));
    if (values.some((v) => v !== undefined)) columns.set(id, { type: TYPES[id]!, values });
  }
  return { times, nanos: nanos.some((x) => x !== 0) ? nanos : undefined, columns };
}

const value = (id: number, k: number): FieldValue => (id === 0 ? k / 7 : id === 1 ? k * 3 - 50 : id === 2 ? k % 2 === 0 : `s${k}`);

test('SeriesHead keeps rows as a plain list would: sparse fields, every type, nanos, overwrites, removals, growth', () => {
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), t: fc.integer({ min: 0, max: 40 }), nanos: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999 })), ids: fc.subarray([0, 1, 2, 3], { minLength: 1 }), k: fc.nat(1000) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), from: fc.integer({ min: 0, max: 40 }), len: fc.integer({ min: 0, max: 20 }), firstRows: fc.nat(30) }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), fc.boolean(), (ops, shareIds) => {
      const head = new SeriesHead();
      let model: ModelRow[] = [];
      let seq = 1;
      const idLists = new Map<string, number[]>();
      for (const o of ops) {
        if (o.kind === 'append') {
          const ids = shareIds ? (idLists.get(o.ids.join()) ?? idLists.set(o.ids.join(), [...o.ids]).get(o.ids.join())!) : [...o.ids];
          const vals = ids.map((id) => value(id, o.k + id));
          head.append(seq, o.t, o.nanos, ids, ids.map((id) => TYPES[id]!), vals);
          model.push({ t: o.t, seq, nanos: o.nanos, vals: new Map(ids.map((id, i) => [id, vals[i]!])) });
          seq++;
        } else {
          const drop = (t: number, row: number) => (t >= o.from && t < o.from + o.len) || row < o.firstRows;
          const removed = head.remove(drop);
          const keep = model.filter((r, row) => !drop(r.t, row));
          assert.equal(removed, model.length - keep.length);
          model = keep;
        }
        assert.equal(head.rows, model.length);
      }
      assert.equal(head.minTime, model.length ? Math.min(...model.map((r) => r.t)) : Infinity);
      assert.equal(head.maxTime, model.length ? Math.max(...model.map((r) => r.t)) : -Infinity);
      assert.equal(head.minSeq, model.length ? Math.min(...model.map((r) => r.seq)) : Infinity);
      assert.deepEqual(head.toChunk(() => true), modelChunk(model, () => true));
      assert.deepEqual(head.toChunk((t) => t >= 10 && t < 30, new Set([0, 3])), modelChunk(model, (t) => t >= 10 && t < 30, new Set([0, 3])));
      const groups = head.groupRows((t) => Math.floor(t / 10));
      assert.equal([...groups.values()].reduce((a, g) => a + g.length, 0), model.length);
      for (const [g, rows] of groups) assert.deepEqual(head.rowsToChunk(rows), modelChunk(model, (t) => Math.floor(t / 10) === g));
    }),
    { numRuns: 300, seed: 99 },
  );
});
