/**
 * The JSON write body of `POST /v1/ts/write` (content-type application/json):
 *
 *   {"points":[{"measurement":"cpu","tags":{"host":"a"},
 *               "fields":{"temp":21.5,"count":{"integer":3},"ok":true,"msg":"x"},
 *               "time":1700000000000}]}
 *
 * - `time`: milliseconds since the epoch (an integer number) or an RFC 3339
 *   string (`2023-11-14T22:13:20.123456789Z`, `...+02:00`); fractional
 *   digits below the millisecond become `nanos` (at most 9 digits). Missing:
 *   the server's `nowMs`.
 * - field values: numbers are floats, `{"integer": n}` is an integer (n a
 *   number or a decimal string, within ±(2^53-1)), booleans and strings.
 * - `tags` is optional; its values are strings.
 * - unknown keys are refused (a misspelt `timestamp` should not silently
 *   become "now").
 *
 * Every problem is an INVALID_ARGUMENT naming the JSON path, e.g.
 * `points[3].fields.temp: must be a finite number`.
 */
import { invalidArgument } from '../../base/index.js';
import type { TsField, TsPoint } from '../types.js';
import { checkName, checkStringValue, checkTagValue } from './validate.js';

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const DECIMAL = /^-?[0-9]+$/;
const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/;
const POINT_KEYS = new Set(['measurement', 'tags', 'fields', 'time']);

function child(path: string, key: string): string {
  return IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function fail(path: string, message: string): never {
  throw invalidArgument(`${path}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v) ?? String(v)}`;
}

/** Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** An RFC 3339 date-time as ms and nanos within the ms. */
export function parseRfc3339(s: string, path = 'time'): { timeMs: number; nanos: number } {
  const m = RFC3339.exec(s);
  if (m === null) fail(path, `invalid RFC 3339 time ${JSON.stringify(s)} (expected e.g. 2023-11-14T22:13:20.5Z)`);
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((k) => Number(m[k]!)) as [number, number, number, number, number, number];
  const frac = m[7] ?? '';
  if (month < 1 || month > 12) fail(path, `month out of range in ${JSON.stringify(s)}`);
  if (day < 1 || day > daysInMonth(year, month)) fail(path, `day out of range in ${JSON.stringify(s)}`);
  if (hour > 23) fail(path, `hour out of range in ${JSON.stringify(s)}`);
  if (minute > 59) fail(path, `minute out of range in ${JSON.stringify(s)}`);
  if (second > 59) fail(path, `second out of range in ${JSON.stringify(s)} (leap seconds are not supported)`);
  if (frac.length > 9) fail(path, `more than 9 fractional second digits in ${JSON.stringify(s)}`);
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]!);
    const om = Number(m[11]!);
    if (oh > 23 || om > 59) fail(path, `time zone offset out of range in ${JSON.stringify(s)}`);
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const digits = frac.padEnd(9, '0');
  const timeMs =
    daysFromCivil(year, month, day) * 86_400_000 +
    ((hour * 60 + minute) * 60 + second) * 1000 +
    Number(digits.slice(0, 3)) -
    offsetMin * 60_000;
  return { timeMs, nanos: Number(digits.slice(3)) };
}

function parseField(name: string, v: unknown, path: string): TsField {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) fail(path, 'must be a finite number');
      return { name, type: 'float', value: v };
    case 'boolean':
      return { name, type: 'boolean', value: v };
    case 'string': {
      const p = checkStringValue(v);
      if (p !== undefined) fail(path, `string value ${p}`);
      return { name, type: 'string', value: v };
    }
    default:
      break;
  }
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === 'integer') {
      const n = v['integer'];
      const ip = child(path, 'integer');
      let value: number;
      if (typeof n === 'number') {
        if (!Number.isInteger(n)) fail(ip, `must be an integer, got ${String(n)}`);
        value = n;
      } else if (typeof n === 'string') {
        if (!DECIMAL.test(n)) fail(ip, `must be a decimal integer string, got ${JSON.stringify(n.length > 100 ? `${n.slice(0, 100)}...` : n)}`);
        value = Number(n);
      } else {
        fail(ip, `must be a number or a decimal string, got ${describe(n)}`);
      }
      if (!Number.isSafeInteger(value)) fail(ip, 'integer out of range (limit ±(2^53-1))');
      return { name, type: 'integer', value: value === 0 ? 0 : value };
    }
  }
  fail(path, `must be a number, boolean, string or {"integer": n}, got ${describe(v)}`);
}

function parsePoint(p: unknown, path: string, nowMs: number): TsPoint {
  if (!isObject(p)) fail(path, `must be an object, got ${describe(p)}`);
  for (const k of Object.keys(p)) if (!POINT_KEYS.has(k)) fail(child(path, k), 'unknown key (expected measurement, tags, fields, time)');

  const measurement = p['measurement'];
  const mPath = `${path}.measurement`;
  if (measurement === undefined) fail(mPath, 'is missing');
  if (typeof measurement !== 'string') fail(mPath, `must be a string, got ${describe(measurement)}`);
  const mp = checkName(measurement);
  if (mp !== undefined) fail(mPath, mp);

  const tags: Array<readonly [string, string]> = [];
  const rawTags = p['tags'];
  if (rawTags !== undefined) {
    const tPath = `${path}.tags`;
    if (!isObject(rawTags)) fail(tPath, `must be an object, got ${describe(rawTags)}`);
    for (const [k, v] of Object.entries(rawTags)) {
      const kPath = child(tPath, k);
      const kp = checkName(k);
      if (kp !== undefined) fail(kPath, `tag key ${kp}`);
      if (typeof v !== 'string') fail(kPath, `must be a string, got ${describe(v)}`);
      const vp = checkTagValue(v);
      if (vp !== undefined) fail(kPath, vp);
      tags.push([k, v]);
    }
  }

  const rawFields = p['fields'];
  const fPath = `${path}.fields`;
  if (rawFields === undefined) fail(fPath, 'is missing');
  if (!isObject(rawFields)) fail(fPath, `must be an object, got ${describe(rawFields)}`);
  const fields: TsField[] = [];
  for (const [k, v] of Object.entries(rawFields)) {
    const kPath = child(fPath, k);
    const kp = checkName(k);
    if (kp !== undefined) fail(kPath, `field name ${kp}`);
    fields.push(parseField(k, v, kPath));
  }
  if (fields.length === 0) fail(fPath, 'must have at least one field');

  let timeMs = nowMs;
  let nanos = 0;
  const time = p['time'];
  const timePath = `${path}.time`;
  if (typeof time === 'number') {
    if (!Number.isSafeInteger(time)) fail(timePath, `must be an integer number of milliseconds within ±(2^53-1), got ${String(time)}`);
    timeMs = time === 0 ? 0 : time;
  } else if (typeof time === 'string') {
    ({ timeMs, nanos } = parseRfc3339(time, timePath));
  } else if (time !== undefined) {
    fail(timePath, `must be milliseconds (a number) or an RFC 3339 string, got ${describe(time)}`);
  }
  return { measurement, tags, fields, timeMs, nanos };
}

/** Validates a parsed JSON write body and returns its points (INVALID_ARGUMENT with a JSON path on the first problem). */
export function parseJsonPoints(value: unknown, nowMs: number): TsPoint[] {
  if (!Number.isSafeInteger(nowMs)) throw invalidArgument(`json points: nowMs must be a safe integer, got ${String(nowMs)}`);
  if (!isObject(value)) throw invalidArgument(`json points: the body must be an object with a "points" array, got ${describe(value)}`);
  for (const k of Object.keys(value)) if (k !== 'points') fail(child('', k).replace(/^\./, ''), 'unknown key (expected points)');
  const points = value['points'];
  if (!Array.isArray(points)) fail('points', points === undefined ? 'is missing' : `must be an array, got ${describe(points)}`);
  const out: TsPoint[] = new Array<TsPoint>(points.length);
  for (let i = 0; i < points.length; i++) out[i] = parsePoint(points[i], `points[${i}]`, nowMs);
  return out;
}
