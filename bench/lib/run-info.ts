import { execFileSync } from 'node:child_process';

/** Today as YYYY-MM-DD in local time (names results files). */
export function localDate(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** The commit a run measured (`<short sha>` or `<short sha>+dirty`), or undefined outside a git checkout. */
export function gitDescribe(root: string): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty.length > 0 ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}
