import type { FieldType, FieldValue, TsColumnsLayout, TsPoint, TsPointColumns } from './types.js';

/** Value `k` of a columns batch as its field type reads it. */
export function columnValue(c: TsPointColumns, type: FieldType, k: number): FieldValue {
  if (type === 'string') return c.strings?.get(k) as FieldValue;
  const v = c.numbers[k]!;
  return type === 'boolean' ? v === 1 : v;
}

/** The points of a columns batch as `TsPoint`s (front ends and tests that want objects). */
export function columnsToPoints(c: TsPointColumns): TsPoint[] {
  const out: TsPoint[] = new Array(c.length);
  for (let p = 0; p < c.length; p++) {
    const s = c.series[c.seriesOf[p]!]!;
    const l: TsColumnsLayout = c.layouts[c.layoutOf[p]!]!;
    const base = c.valueStart[p]!;
    const fields = l.names.map((name, i) => ({ name, type: l.types[i]!, value: columnValue(c, l.types[i]!, base + i) }));
    const point: TsPoint = { measurement: s.measurement, tags: s.tags, fields, timeMs: c.timeMs[p]!, nanos: c.nanos ? c.nanos[p]! : 0 };
    if (s.hint !== undefined) point.seriesHint = s.hint;
    out[p] = point;
  }
  return out;
}
