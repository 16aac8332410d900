/**
 * What a command handler returns, before it is encoded for the client's
 * protocol version (RESP2 or RESP3). Plain JavaScript values stand for the
 * common kinds so the hot path allocates nothing of its own:
 *
 * - `Buffer`: a bulk string (binary safe), `string`: a bulk string (UTF-8)
 * - `undefined`: the null reply (`$-1` in RESP2, `_` in RESP3)
 * - `number` (an integer) or `bigint`: an integer
 * - `boolean`: a RESP3 boolean (`#t`/`#f`), the integers 1/0 in RESP2
 * - an array of replies: an array
 * - the classes below for the rest: simple strings, errors, maps, doubles,
 *   verbatim strings and the null array.
 */
export type Reply =
  | Buffer
  | string
  | number
  | bigint
  | boolean
  | undefined
  | SimpleReply
  | ErrorReply
  | MapReply
  | DoubleReply
  | VerbatimReply
  | NullArrayReply
  | readonly Reply[];

/** A simple string (`+OK`). The encoded bytes are made once. */
export class SimpleReply {
  readonly bytes: Buffer;
  constructor(readonly text: string) {
    this.bytes = Buffer.from(`+${text}\r\n`, 'latin1');
  }
}

/**
 * An error reply. `text` starts with the error code word (`ERR syntax
 * error`, `WRONGTYPE ...`); CR and LF are replaced by spaces when encoded.
 */
export class ErrorReply {
  constructor(readonly text: string) {}
}

/** A map: a RESP3 map (`%`), a flat array of keys and values in RESP2. */
export class MapReply {
  constructor(readonly entries: ReadonlyArray<readonly [Reply, Reply]>) {}
}

/** A double: RESP3 `,`, a bulk string in RESP2. */
export class DoubleReply {
  constructor(readonly value: number) {}
}

/** A verbatim string (RESP3 `=` with a 3-letter format such as `txt`), a bulk string in RESP2. */
export class VerbatimReply {
  constructor(
    readonly format: string,
    readonly text: string,
  ) {}
}

/** The null array (`*-1` in RESP2, `_` in RESP3). */
export class NullArrayReply {
  private constructor() {}
  static readonly INSTANCE = new NullArrayReply();
}

export const OK = new SimpleReply('OK');
export const PONG = new SimpleReply('PONG');
export const NULL_ARRAY = NullArrayReply.INSTANCE;

/** Replies that are errors count as failed commands in the metrics. */
export function isErrorReply(r: Reply): r is ErrorReply {
  return r instanceof ErrorReply;
}
