/**
 * Real kill -9: a child process (fixtures/crash-writer.ts) writes with
 * sync:true on the real file system and prints the index of every
 * acknowledged op; after a seeded number of acknowledgements (counted, not
 * timed) it gets SIGKILL. The test then opens the directory itself and checks
 * that the state equals the model after a prefix of the ops that includes
 * every acknowledged one (and at most the one op that may have been in
 * flight). The next round continues on the same directory from the recovered
 * prefix, so recovery of recovered databases, flushes and worker compactions
 * cut short are all exercised. Some rounds kill the child while it opens.
 *
 * Short: 5 rounds; STRATA_LONG_TESTS: 100. Failures print SEED=<n>
 * (STRATA_SEED=<n> replays the kill schedule; the kill points themselves
 * depend on scheduling, as with any real kill).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeededRandom } from '../../src/base/random.js';
import { open } from '../../src/engine/db.js';
import { applyOp, KEY_SPACE, keyAt, opAt, WRITER_OPTIONS } from './fixtures/crash-writer.js';

const LONG = !!process.env.STRATA_LONG_TESTS && process.env.STRATA_LONG_TESTS !== '0';
const SEED = process.env.STRATA_SEED === undefined ? 20240611 : Number(process.env.STRATA_SEED);
const ROUNDS = LONG ? 100 : 5;
const FIXTURE = fileURLToPath(new URL('./fixtures/crash-writer.js', import.meta.url));

interface ChildRun {
  /** Acknowledged op indices, in the order printed. */
  acks: number[];
  sawReady: boolean;
  killed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs the writer from op `start` and SIGKILLs it after `killAfterAcks`
 * acknowledgements (or, if 'opening', as soon as it says it is opening).
 * Resolves once the child is gone and its stdout is drained.
 */
function runChild(dir: string, start: number, killAfter: number | 'opening', children: Set<ChildProcess>): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, dir, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const run: ChildRun = { acks: [], sawReady: false, killed: false, code: null, signal: null, stderr: '' };
    const kill = () => {
      if (run.killed) return;
      run.killed = true;
      child.kill('SIGKILL');
    };
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'opening') {
          if (killAfter === 'opening') kill();
        } else if (line === 'ready') {
          run.sawReady = true;
          if (killAfter === 0) kill();
        } else if (/^\d+$/.test(line)) {
          run.acks.push(Number(line));
          if (typeof killAfter === 'number' && run.acks.length >= killAfter) kill();
        } else {
          run.stderr += `unexpected stdout line: ${line}\n`;
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      run.stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

test(`kill -9 during sync writes, flushes and worker compactions: every acknowledged op survives (${ROUNDS} rounds)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-kill9-'));
  const children = new Set<ChildProcess>();
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const r = new SeededRandom(SEED);
  /** The database holds exactly ops 0..applied-1 (as verified after the previous round). */
  let applied = 0;
  const model = new Map<string, string>();
  let totalAcks = 0;
  let openKills = 0;
  let maxLevelSeen = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const killAfter: number | 'opening' = r.int(0, 7) === 0 ? 'opening' : r.int(0, 9) === 0 ? r.int(0, 5) : r.int(20, 400);
    const ctx = `SEED=${SEED} round=${round} start=${applied} killAfter=${killAfter}`;
    const run = await runChild(dir, applied, killAfter, children);
    assert.ok(run.killed && run.signal === 'SIGKILL', `${ctx}: the writer exited on its own (code ${run.code}, signal ${run.signal}): ${run.stderr}`);
    // Ignore process warnings ("(node:PID) ..." and their follow-up hint lines); anything else is the writer failing.
    const stderr = run.stderr
      .split('\n')
      .filter((l) => l !== '' && !/^\(node:\d+\)/.test(l) && !l.startsWith('(Use `node --trace-'))
      .join('\n');
    assert.equal(stderr, '', `${ctx}: writer stderr`);
    if (killAfter === 'opening') openKills++;
    // Acks are consecutive from `applied`.
    run.acks.forEach((a, n) => assert.equal(a, applied + n, `${ctx}: ack ${n} is op ${a}`));
    totalAcks += run.acks.length;
    const lastAck = run.acks.length > 0 ? run.acks[run.acks.length - 1]! : applied - 1;

    // Ops are issued one at a time: after the last ack at most one more op was in flight.
    const db = await open(dir, WRITER_OPTIONS);
    try {
      const state = new Map<string, string>();
      for (const [k, v] of db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' })) state.set(k, v);
      const candidate = new Map(model);
      for (let i = applied; i <= lastAck; i++) applyOp(candidate, opAt(i));
      let prefix = -1;
      const diff = (m: Map<string, string>) => {
        const out: string[] = [];
        for (const k of new Set([...m.keys(), ...state.keys()])) {
          if (m.get(k) !== state.get(k)) out.push(`${k}: expected ${m.get(k)?.slice(0, 20) ?? 'absent'}, got ${state.get(k)?.slice(0, 20) ?? 'absent'}`);
        }
        return out.slice(0, 5).join('; ');
      };
      const same = (m: Map<string, string>) => m.size === state.size && [...m].every(([k, v]) => state.get(k) === v);
      const withAcked = diff(candidate);
      if (same(candidate)) prefix = lastAck + 1;
      else {
        applyOp(candidate, opAt(lastAck + 1));
        if (same(candidate)) prefix = lastAck + 2;
      }
      assert.ok(
        prefix >= 0,
        `${ctx}: after ${run.acks.length} acks (last op ${lastAck}) the state is neither ops 0..${lastAck} nor 0..${lastAck + 1}: ${withAcked}`,
      );
      // Point reads agree with the scan.
      for (let n = 0; n < KEY_SPACE; n++) {
        const k = keyAt(n);
        assert.equal(db.getSync(k)?.toString('utf8'), state.get(k), `${ctx}: get(${k})`);
      }
      const st = db.stats();
      st.levels.forEach((l) => {
        if (l.files > 0) maxLevelSeen = Math.max(maxLevelSeen, l.level);
      });
      for (let i = applied; i < prefix; i++) applyOp(model, opAt(i));
      applied = prefix;
    } finally {
      await db.close();
    }
  }
  console.log(`# crash-process SEED=${SEED}: ${ROUNDS} kills (${openKills} while opening), ${totalAcks} acknowledged ops, ${applied} ops applied, deepest level ${maxLevelSeen}`);
  assert.ok(totalAcks > 0, `SEED=${SEED}: no op was ever acknowledged`);
});
