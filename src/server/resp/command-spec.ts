import type { ErrorCode } from '../../base/index.js';
import type { Reply } from './replies.js';
import type { ClientSession } from './session.js';

/**
 * How a command orders against the other commands of one pipeline, whose
 * service calls are issued without waiting for each other (the service
 * applies writes in call order, and a read sees what was applied when it
 * was called):
 * - 'read': reads its keys, so it waits for pending writes of the same keys.
 * - 'write': writes its keys; later reads of them wait for it.
 * - 'none': touches no data (PING, ECHO, TIME, CONFIG, ...).
 * - 'barrier': everything before it settles first, and it settles before
 *   anything after it runs (whole-keyspace commands, HELLO's protocol switch).
 */
export type CommandAccess = 'read' | 'write' | 'none' | 'barrier';

/** A handler returns a reply, or a promise of one; it may throw an ErrorReply or a StrataError. */
export type CommandHandler = (session: ClientSession, argv: Buffer[]) => Reply | Promise<Reply>;

/** One command: Redis' command-table facts (for arity checks and COMMAND) plus our handler. */
export interface CommandSpec {
  /** Lower case, as Redis prints it in errors (`wrong number of arguments for 'get' command`). */
  readonly name: string;
  /** Redis arity: n means exactly n arguments (with the name), -n at least n. */
  readonly arity: number;
  /** Redis command flags for COMMAND INFO (`write`, `readonly`, `fast`, ...). */
  readonly flags: readonly string[];
  /** Key positions (Redis first/last/step; last -1 means the last argument). 0 when the command has no keys. */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  /** ACL categories for COMMAND INFO (`@string`, `@read`, ...). */
  readonly categories: readonly string[];
  /** COMMAND DOCS facts. */
  readonly group: string;
  readonly summary: string;
  readonly since: string;
  readonly access: CommandAccess;
  /** Needs the read-write role. */
  readonly write: boolean;
  /** Allowed before authentication (AUTH, HELLO, QUIT). */
  readonly noAuth: boolean;
  /** Subcommand names (`client|setname`) for COMMAND. */
  readonly subcommands: readonly string[];
  /** Error words for codes whose meaning depends on the command (checked before the shared table). */
  readonly errors: Partial<Record<ErrorCode, string>>;
  /**
   * Consecutive plain forms (`GET key`; `SET key value`) may be issued
   * together as one service getMany/setMany call; the replies are the same
   * as one call each (a plain SET always answers OK).
   */
  readonly coalesce: 'get' | 'set' | undefined;
  readonly handler: CommandHandler;
}

export interface CommandDefinition {
  name: string;
  arity: number;
  flags?: readonly string[];
  keys?: readonly [first: number, last: number, step: number];
  categories?: readonly string[];
  group: string;
  summary: string;
  since: string;
  access: CommandAccess;
  subcommands?: readonly string[];
  errors?: Partial<Record<ErrorCode, string>>;
  coalesce?: 'get' | 'set';
  handler: CommandHandler;
}

export function defineCommand(d: CommandDefinition): CommandSpec {
  const flags = d.flags ?? [];
  const [firstKey, lastKey, step] = d.keys ?? [0, 0, 0];
  return Object.freeze({
    name: d.name,
    arity: d.arity,
    flags,
    firstKey,
    lastKey,
    step,
    categories: d.categories ?? [],
    group: d.group,
    summary: d.summary,
    since: d.since,
    access: d.access,
    write: flags.includes('write'),
    noAuth: flags.includes('no_auth'),
    subcommands: d.subcommands ?? [],
    errors: d.errors ?? {},
    coalesce: d.coalesce,
    handler: d.handler,
  });
}

/** The index of the last key argument of a command with `argc` arguments (keys run from firstKey by step); -1 without keys. */
export function lastKeyIndex(spec: CommandSpec, argc: number): number {
  if (spec.firstKey === 0) return -1;
  const last = spec.lastKey < 0 ? argc + spec.lastKey : spec.lastKey;
  return Math.min(last, argc - 1);
}
