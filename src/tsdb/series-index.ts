import { invalidArgument } from '../base/index.js';
import type { FieldType, TagMatcher } from './types.js';

/** One series: its id, measurement and tags sorted by name. */
export interface SeriesEntry {
  readonly sid: number;
  readonly measurement: string;
  readonly tags: ReadonlyArray<readonly [string, string]>;
  /** Canonical key: measurement and sorted tags, line-protocol escaped. */
  readonly key: string;
  /** False until the write that created it is durable ('I' record). */
  persisted: boolean;
  /** The field names, ids and types of the series' last write (the store's fast path for the next one). */
  layout?: { names: string[]; ids: number[]; types: FieldType[] };
}

const NEEDS_ESCAPE = /[\\,= ]/;
const escapeKeyPart = (s: string) => (NEEDS_ESCAPE.test(s) ? s.replace(/[\\,= ]/g, (c) => `\\${c}`) : s);

/** The canonical key of a series: `cpu,host=a,region=b` with tags sorted by name. */
export function canonicalSeriesKey(measurement: string, sortedTags: ReadonlyArray<readonly [string, string]>): string {
  let k = escapeKeyPart(measurement);
  for (const [n, v] of sortedTags) k += `,${escapeKeyPart(n)}=${escapeKeyPart(v)}`;
  return k;
}

/** Sorts tag pairs by name; rejects duplicate names and empty names or values. */
export function sortTags(tags: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string]> {
  const sorted = tags.length <= 1 ? [...tags] : [...tags].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    const [n, v] = sorted[i]!;
    if (n === '' || v === '') throw invalidArgument(`tag ${JSON.stringify(n)}: names and values must be non-empty`);
    if (i > 0 && sorted[i - 1]![0] === n) throw invalidArgument(`tag ${JSON.stringify(n)} appears twice`);
  }
  return sorted;
}

interface MeasurementPostings {
  /** Every series id of the measurement, ascending. */
  all: number[];
  /** tag name → tag value → series ids (ascending). */
  postings: Map<string, Map<string, number[]>>;
}

/** Intersection of two ascending id lists (binary search into the longer when one is much shorter). */
function intersect(a: readonly number[], b: readonly number[]): number[] {
  if (a.length > b.length) [a, b] = [b, a];
  const out: number[] = [];
  if (a.length * 16 < b.length) {
    let lo = 0;
    for (const x of a) {
      let hi = b.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (b[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      if (lo < b.length && b[lo] === x) out.push(x);
    }
    return out;
  }
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      out.push(x);
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return out;
}

/** a minus b, both ascending. */
function subtract(a: readonly number[], b: readonly number[]): number[] {
  if (b.length === 0) return a.slice();
  const out: number[] = [];
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j]! < x) j++;
    if (j >= b.length || b[j] !== x) out.push(x);
  }
  return out;
}

/** Union of ascending lists. */
function union(lists: readonly (readonly number[])[]): number[] {
  if (lists.length === 0) return [];
  if (lists.length === 1) return lists[0]!.slice();
  const all: number[] = [];
  for (const l of lists) for (const x of l) all.push(x);
  all.sort((x, y) => x - y);
  const out: number[] = [];
  for (const x of all) if (out.length === 0 || out[out.length - 1] !== x) out.push(x);
  return out;
}

function compileRegex(source: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw invalidArgument(`invalid regular expression ${JSON.stringify(source)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The series index: canonical key → id, id → series, and per measurement an
 * inverted index (tag name → value → ascending series ids) for selection
 * by matchers. Ids are allocated in increasing order, so appending keeps
 * every postings list sorted. Lives in memory; rebuilt at open from the
 * 'I' records.
 */
export class SeriesIndex {
  private readonly byKey = new Map<string, SeriesEntry>();
  /** Series by id (ids are dense, from 1). */
  private readonly byId: Array<SeriesEntry | undefined> = [];
  private count = 0;
  /**
   * Shared copies of tag names, and of tag values held by more than one
   * series (a million series share a few hundred strings instead of
   * holding millions of copies).
   */
  private readonly strings = new Map<string, string>();
  private readonly measurements = new Map<string, MeasurementPostings>();
  private nextSid = 1;

  get size(): number {
    return this.count;
  }

  lookup(key: string): SeriesEntry | undefined {
    return this.byKey.get(key);
  }

  get(sid: number): SeriesEntry | undefined {
    return this.byId[sid];
  }

  measurementNames(): string[] {
    return [...this.measurements.keys()].sort();
  }

  /** Allocates an id for a new series (not yet persisted). */
  create(measurement: string, sortedTags: ReadonlyArray<readonly [string, string]>, key: string): SeriesEntry {
    return this.add({ sid: this.nextSid, measurement, tags: sortedTags, key, persisted: false });
  }

  /** Adds a series read from disk (ids may arrive in any order at open; `finishLoad` sorts). */
  add(entry: SeriesEntry): SeriesEntry {
    this.byKey.set(entry.key, entry);
    if (this.byId[entry.sid] === undefined) this.count++;
    this.byId[entry.sid] = entry;
    if (entry.sid >= this.nextSid) this.nextSid = entry.sid + 1;
    let m = this.measurements.get(entry.measurement);
    if (m === undefined) {
      m = { all: [], postings: new Map() };
      this.measurements.set(entry.measurement, m);
    }
    m.all.push(entry.sid);
    const tags = entry.tags as Array<readonly [string, string]>;
    for (let i = 0; i < tags.length; i++) {
      const [rawName, rawValue] = tags[i]!;
      let n = this.strings.get(rawName);
      if (n === undefined) this.strings.set(rawName, (n = rawName));
      const v = this.strings.get(rawValue) ?? rawValue;
      if (n !== rawName || v !== rawValue) tags[i] = [n, v];
      let values = m.postings.get(n);
      if (values === undefined) {
        values = new Map();
        m.postings.set(n, values);
      }
      const ids = values.get(v);
      if (ids === undefined) values.set(v, [entry.sid]);
      else {
        // A value shared by a second series is worth one shared copy.
        if (ids.length === 1 && !this.strings.has(v)) this.strings.set(v, v);
        ids.push(entry.sid);
      }
    }
    return entry;
  }

  /** Sorts postings after a bulk load in arbitrary id order. */
  finishLoad(): void {
    const cmp = (a: number, b: number) => a - b;
    for (const m of this.measurements.values()) {
      m.all.sort(cmp);
      for (const values of m.postings.values()) for (const ids of values.values()) ids.sort(cmp);
    }
  }

  /** Tag names and values of a measurement (for label browsing). */
  tagValues(measurement: string, tag: string): string[] {
    const values = this.measurements.get(measurement)?.postings.get(tag);
    return values === undefined ? [] : [...values.keys()].sort();
  }

  /**
   * Ids (ascending) of the measurement's series matching every matcher.
   * A series without the tag has the empty value for it (as in Prometheus):
   * `tag=""` selects series without it, `tag!="x"` includes them.
   */
  select(measurement: string, matchers: readonly TagMatcher[] = []): number[] {
    const m = this.measurements.get(measurement);
    if (m === undefined) return [];
    const withValue = (tag: string, test: (v: string) => boolean): number[] => {
      const values = m.postings.get(tag);
      if (values === undefined) return [];
      const lists: number[][] = [];
      for (const [v, ids] of values) if (test(v)) lists.push(ids);
      return union(lists);
    };
    // Positive matchers narrow first (smallest postings first); negative ones subtract.
    const ordered = [...matchers].sort((a, b) => rank(a) - rank(b));
    let current: number[] | undefined;
    for (const mt of ordered) {
      if (mt.op !== '=' && mt.op !== '!=' && mt.op !== '=~' && mt.op !== '!~') throw invalidArgument(`unknown tag matcher operator ${JSON.stringify(mt.op)}`);
      const regex = mt.op === '=~' || mt.op === '!~' ? compileRegex(mt.value) : undefined;
      const test = regex !== undefined ? (v: string) => regex.test(v) : (v: string) => v === mt.value;
      const matchesEmpty = test('');
      const positive = mt.op === '=' || mt.op === '=~';
      // Series whose (possibly empty) value passes `test`.
      let passing: number[] | undefined;
      const hasTag = () => withValue(mt.tag, () => true);
      if (matchesEmpty) passing = subtract(current ?? m.all, subtract(hasTag(), withValue(mt.tag, test)));
      const base = current ?? m.all;
      if (positive && passing === undefined) {
        const matched = mt.op === '=' ? (m.postings.get(mt.tag)?.get(mt.value) ?? []) : withValue(mt.tag, test);
        // Postings are subsets of the measurement's series: the first selector needs no intersection.
        current = current === undefined ? matched.slice() : intersect(current, matched);
      } else if (positive) current = passing!;
      else current = passing !== undefined ? subtract(base, passing) : subtract(base, mt.op === '!=' ? (m.postings.get(mt.tag)?.get(mt.value) ?? []) : withValue(mt.tag, test));
      if (current.length === 0) return current;
    }
    return current === undefined ? m.all.slice() : current;
  }
}

function rank(m: TagMatcher): number {
  return m.op === '=' ? (m.value === '' ? 2 : 0) : m.op === '=~' ? 1 : 3;
}
