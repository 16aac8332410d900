// Starts `strata serve` as a child process on free loopback ports (the CLI
// prints them when STRATA_PRINT_PORTS is set) for tests that need a real
// process: signals, kill -9, external clients such as Prometheus.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(new URL('.', import.meta.url).pathname, '../../..');
export const CLI = join(root, 'dist/src/cli/main.js');

export interface RunningServer {
  child: ChildProcessWithoutNullStreams;
  ports: { resp?: number; http?: number; grpc?: number };
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `strata serve` with `args` and resolves once it reports its ports. */
export function serve(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, [CLI, 'serve', '--resp-port', '0', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', ...args], {
    env: { ...process.env, STRATA_PRINT_PORTS: '1', ...env },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((res, rej) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /STRATA_PORTS (\{.*\})/.exec(out);
      if (m) res({ child, ports: JSON.parse(m[1]!) as RunningServer['ports'], stderr: () => err, exited });
    });
    void exited.then((code) => rej(new Error(`strata serve exited (${code}) before it was ready:\n${out}\n${err}`)));
  });
}
