import type { CommandSpec } from './command-spec.js';

/** Longest command name we look up (longer names are unknown commands). */
const NAME_BYTES_MAX = 32;

// Module bindings rather than global lookups on the hot path.
const imul = Math.imul;

/** A case-insensitive 32-bit hash of an ASCII name's bytes. */
function nameHash(bytes: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    h = (imul(h, 31) + (c >= 0x41 && c <= 0x5a ? c | 0x20 : c)) | 0;
  }
  return h;
}

/** True when `bytes` spells `lowerName` in any letter case. */
function sameName(bytes: Uint8Array, lowerName: string): boolean {
  if (bytes.length !== lowerName.length) return false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lowerName.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The commands a server knows, looked up by name case-insensitively from
 * the name's bytes: a hash of the case-folded bytes, then one comparison
 * (no string is made on the hot path).
 */
export class CommandTable {
  private readonly byName = new Map<string, CommandSpec>();
  private readonly byHash = new Map<number, CommandSpec>();

  constructor(specs: Iterable<CommandSpec>) {
    for (const spec of specs) {
      if (this.byName.has(spec.name)) throw new Error(`assertion failed: command '${spec.name}' defined twice`);
      const h = nameHash(Buffer.from(spec.name, 'latin1'));
      if (this.byHash.has(h)) throw new Error(`assertion failed: command names '${spec.name}' and '${this.byHash.get(h)!.name}' collide in the lookup hash`);
      this.byName.set(spec.name, spec);
      this.byHash.set(h, spec);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  all(): IterableIterator<CommandSpec> {
    return this.byName.values();
  }

  /** By lower-case name. */
  get(name: string): CommandSpec | undefined {
    return this.byName.get(name);
  }

  /** By the name argument as sent, in any letter case. */
  lookup(nameArg: Uint8Array): CommandSpec | undefined {
    if (nameArg.length > NAME_BYTES_MAX) return undefined;
    const spec = this.byHash.get(nameHash(nameArg));
    return spec !== undefined && sameName(nameArg, spec.name) ? spec : undefined;
  }
}
