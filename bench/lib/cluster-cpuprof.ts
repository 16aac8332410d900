/**
 * Diagnostic preload for `npm run bench:cluster -- --cpu-prof DIR`: Node
 * refuses --cpu-prof in NODE_OPTIONS, and LocalCluster starts the nodes with
 * `node main.js serve …`, so the bench passes
 * `NODE_OPTIONS=--import=<this file>` and BENCH_CLUSTER_CPU_PROF=DIR instead.
 * This starts the V8 sampling profiler through node:inspector when the
 * process starts and writes DIR/<pid>-<argv node id>.cpuprofile when it
 * exits normally (a graceful stop; not after SIGKILL). Open the file in
 * Chrome DevTools or speedscope.
 */
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CLUSTER_CPU_PROF;
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  const idArg = process.argv.indexOf('--node-id');
  const name = `${process.pid}${idArg >= 0 ? `-${process.argv[idArg + 1]}` : ''}.cpuprofile`;
  process.once('exit', () => {
    // A main-thread session answers synchronously, so this runs to the end inside 'exit'.
    session.post('Profiler.stop', (err, res) => {
      if (err !== null || res === undefined) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), JSON.stringify(res.profile));
    });
  });
}
