import { joinPath } from '../base/index.js';

/**
 * Files of a database directory:
 *   CURRENT            name of the live MANIFEST, one line
 *   LOCK               held while the database is open
 *   MANIFEST-NNNNNN    log of version edits
 *   NNNNNN.log         write-ahead log of one memtable
 *   NNNNNN.sst         a table
 *   NNNNNN.dbtmp       a temporary file (CURRENT being replaced)
 */
export type FileKind = 'current' | 'lock' | 'manifest' | 'log' | 'table' | 'temp';

const pad = (n: number) => String(n).padStart(6, '0');

export const currentFile = (dir: string) => joinPath(dir, 'CURRENT');
export const lockFile = (dir: string) => joinPath(dir, 'LOCK');
/** Present (holding EXPIRING_VALUES_MARK) when the database stores expiring values (option expiringValues). */
export const valueFormatFile = (dir: string) => joinPath(dir, 'VALUE-FORMAT');
export const EXPIRING_VALUES_MARK = 'expiring-v1\n';
export const manifestName = (n: number) => `MANIFEST-${pad(n)}`;
export const logFile = (dir: string, n: number) => joinPath(dir, `${pad(n)}.log`);
export const tableName = (n: number) => `${pad(n)}.sst`;
export const tableFile = (dir: string, n: number) => joinPath(dir, tableName(n));
export const tempFile = (dir: string, n: number) => joinPath(dir, `${pad(n)}.dbtmp`);

export function parseFileName(name: string): { kind: FileKind; number: number } | undefined {
  if (name === 'CURRENT') return { kind: 'current', number: 0 };
  if (name === 'LOCK') return { kind: 'lock', number: 0 };
  let m = /^MANIFEST-(\d+)$/.exec(name);
  if (m) return { kind: 'manifest', number: Number(m[1]) };
  m = /^(\d+)\.(log|sst|dbtmp)$/.exec(name);
  if (!m) return undefined;
  const kind = m[2] === 'log' ? 'log' : m[2] === 'sst' ? 'table' : 'temp';
  return { kind, number: Number(m[1]) };
}
