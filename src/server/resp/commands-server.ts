import { ANONYMOUS_ADMIN } from '../auth.js';
import type { Principal } from '../auth.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, argIs, argLower, argText, parseInteger } from './arguments.js';
import { defineCommand } from './command-spec.js';
import type { CommandSpec } from './command-spec.js';
import { globMatch } from './glob.js';
import { infoSections, infoText, REDIS_COMPAT_VERSION } from './info.js';
import { ErrorReply, MapReply, OK, PONG, SimpleReply, VerbatimReply } from './replies.js';
import type { Reply } from './replies.js';
import type { ClientSession } from './session.js';

export const ERR_NOAUTH = new ErrorReply('NOAUTH Authentication required.');
export const ERR_WRONGPASS = new ErrorReply('WRONGPASS invalid username-password pair or user is disabled.');

export function wrongArity(name: string): ErrorReply {
  return new ErrorReply(`ERR wrong number of arguments for '${name}' command`);
}

function unknownSubcommand(argv: readonly Buffer[], command: string): ErrorReply {
  return new ErrorReply(`ERR unknown subcommand '${argText(argv[1]!)}'. Try ${command} HELP.`);
}

/** Checks a subcommand's Redis arity; throws the `'cmd|sub'` arity error. */
function subArity(argv: readonly Buffer[], arity: number, fullName: string): void {
  if (arity > 0 ? argv.length !== arity : argv.length < -arity) throw wrongArity(fullName);
}

function ping(_s: ClientSession, argv: Buffer[]): Reply {
  if (argv.length > 2) throw wrongArity('ping');
  return argv.length === 2 ? argv[1]! : PONG;
}

function quit(s: ClientSession): Reply {
  s.quitRequested = true;
  return OK;
}

/** Verifies credentials; undefined when wrong. Without configured users only `default` exists and any password is right (Redis' nopass default user). */
function authenticate(s: ClientSession, user: Buffer, password: Buffer): Principal | undefined {
  const auth = s.server.auth;
  if (!auth.required) return user.toString('utf8') === 'default' ? ANONYMOUS_ADMIN : undefined;
  return auth.verify(user.toString('utf8'), password.toString('utf8'));
}

function authFailed(s: ClientSession, user: Buffer): ErrorReply {
  s.server.logger.warn({ client: s.id, addr: s.addr, user: argText(user, 64) }, 'resp: authentication failed');
  s.server.onAuthFailure();
  return ERR_WRONGPASS;
}

function auth(s: ClientSession, argv: Buffer[]): Reply {
  if (argv.length > 3) throw ERR_SYNTAX;
  let user: Buffer;
  let password: Buffer;
  if (argv.length === 2) {
    if (!s.server.auth.required) {
      return new ErrorReply('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
    }
    user = DEFAULT_USER;
    password = argv[1]!;
  } else {
    user = argv[1]!;
    password = argv[2]!;
  }
  const principal = authenticate(s, user, password);
  if (principal === undefined) return authFailed(s, user);
  s.principal = principal;
  return OK;
}

const DEFAULT_USER = Buffer.from('default');

/** Redis' client-name rule: printable ASCII without spaces. */
function validateClientName(name: Buffer): void {
  for (const c of name) {
    if (c < 0x21 || c > 0x7e) throw new ErrorReply('ERR Client names cannot contain spaces, newlines or special characters.');
  }
}

/** HELLO [protover [AUTH user pass] [SETNAME name]], as Redis 7's helloCommand. */
function hello(s: ClientSession, argv: Buffer[]): Reply {
  let version: 2 | 3 | undefined;
  if (argv.length >= 2) {
    const v = parseInteger(argv[1]!);
    if (v === undefined) throw new ErrorReply('ERR Protocol version is not an integer or out of range');
    if (v !== 2 && v !== 3) throw new ErrorReply('NOPROTO unsupported protocol version');
    version = v;
  }
  let user: Buffer | undefined;
  let password: Buffer | undefined;
  let name: Buffer | undefined;
  for (let j = 2; j < argv.length; j++) {
    const more = argv.length - 1 - j;
    const opt = argv[j]!;
    if (argIs(opt, 'auth') && more >= 2) {
      user = argv[j + 1]!;
      password = argv[j + 2]!;
      j += 2;
    } else if (argIs(opt, 'setname') && more >= 1) {
      name = argv[j + 1]!;
      validateClientName(name);
      j++;
    } else {
      throw new ErrorReply(`ERR Syntax error in HELLO option '${argText(opt)}'`);
    }
  }
  if (user !== undefined && password !== undefined) {
    const principal = authenticate(s, user, password);
    if (principal === undefined) return authFailed(s, user);
    s.principal = principal;
  }
  if (s.principal === undefined) {
    return new ErrorReply(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  if (name !== undefined) s.name = name.toString('latin1');
  if (version !== undefined) s.resp = version;
  return new MapReply([
    ['server', 'redis'],
    ['version', REDIS_COMPAT_VERSION],
    ['proto', s.resp],
    ['id', s.id],
    ['mode', 'standalone'],
    ['role', 'master'],
    ['modules', []],
  ]);
}

function select(_s: ClientSession, argv: Buffer[]): Reply {
  const db = parseInteger(argv[1]!);
  if (db === undefined || db > 0x7fffffff || db < -0x80000000) throw ERR_NOT_INTEGER;
  if (db !== 0) throw new ErrorReply('ERR DB index is out of range');
  return OK;
}

async function info(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const sections = infoSections(argv.slice(1).map(argLower));
  const keys = sections.has('keyspace') ? await s.service.keyspaceInfo() : { keys: 0, expires: 0, avgTtlMs: 0 };
  return new VerbatimReply('txt', infoText(s.server, sections, keys, s.server.clientCount()));
}

function time(s: ClientSession): Reply {
  const ms = s.service.nowMs();
  return [String(Math.floor(ms / 1000)), String((ms % 1000) * 1000)];
}

function client(s: ClientSession, argv: Buffer[]): Reply {
  const sub = argLower(argv[1]!);
  switch (sub) {
    case 'id':
      subArity(argv, 2, 'client|id');
      return s.id;
    case 'setname': {
      subArity(argv, 3, 'client|setname');
      validateClientName(argv[2]!);
      s.name = argv[2]!.toString('latin1');
      return OK;
    }
    case 'getname':
      subArity(argv, 2, 'client|getname');
      return s.name === '' ? undefined : s.name;
    case 'list': {
      subArity(argv, -2, 'client|list');
      let ids: Set<number> | undefined;
      for (let j = 2; j < argv.length; j++) {
        if (argIs(argv[j]!, 'type') && j + 1 < argv.length) {
          const t = argLower(argv[++j]!);
          if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) throw new ErrorReply(`ERR Unknown client type '${t}'`);
          if (t !== 'normal') ids = new Set();
        } else if (argIs(argv[j]!, 'id') && j + 1 < argv.length) {
          ids ??= new Set();
          for (j++; j < argv.length; j++) {
            const id = parseInteger(argv[j]!);
            if (id === undefined || id <= 0) throw new ErrorReply('ERR Invalid client ID');
            ids.add(id);
          }
        } else {
          throw ERR_SYNTAX;
        }
      }
      const lines: string[] = [];
      for (const c of s.server.sessions()) if (ids === undefined || ids.has(c.id)) lines.push(`${c.describe()}\n`);
      return new VerbatimReply('txt', lines.join(''));
    }
    case 'info':
      subArity(argv, 2, 'client|info');
      return new VerbatimReply('txt', `${s.describe()}\n`);
    case 'setinfo': {
      subArity(argv, 4, 'client|setinfo');
      const attr = argLower(argv[2]!);
      const value = argv[3]!.toString('latin1');
      if (/[^\x21-\x7e]/.test(value)) throw new ErrorReply(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
      if (attr === 'lib-name') s.libName = value;
      else if (attr === 'lib-ver') s.libVersion = value;
      else throw new ErrorReply(`ERR Unrecognized option '${argText(argv[2]!)}'`);
      return OK;
    }
    case 'help':
      return [
        'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
        'GETNAME',
        '    Return the name of the current connection.',
        'ID',
        '    Return the ID of the current connection.',
        'INFO',
        '    Return information about the current client connection.',
        'LIST [TYPE <normal|master|replica|pubsub>] [ID <id> [<id> ...]]',
        '    Return information about client connections.',
        'SETINFO <option> <value>',
        '    Set client meta attr. Options are: LIB-NAME, LIB-VER.',
        'SETNAME <name>',
        '    Assign the name <name> to the current connection.',
        'HELP',
        '    Print this help.',
      ].map((l) => new SimpleReply(l));
    default:
      throw unknownSubcommand(argv, 'CLIENT');
  }
}

/** One COMMAND INFO entry, in Redis 7's ten-field shape. */
function commandInfo(spec: CommandSpec): Reply {
  return [
    spec.name,
    spec.arity,
    spec.flags.map((f) => new SimpleReply(f)),
    spec.firstKey,
    spec.lastKey,
    spec.step,
    spec.categories.map((c) => new SimpleReply(c)),
    [],
    [],
    [],
  ];
}

/** One COMMAND DOCS entry: summary, since, group (and subcommands). */
function commandDocs(spec: CommandSpec): Reply {
  const entries: Array<[Reply, Reply]> = [
    ['summary', spec.summary],
    ['since', spec.since],
    ['group', spec.group],
  ];
  if (spec.subcommands.length > 0) {
    entries.push([
      'subcommands',
      new MapReply(spec.subcommands.map((sub) => [sub, new MapReply([['summary', `The ${sub.split('|')[1]!.toUpperCase()} subcommand of ${spec.name.toUpperCase()}.`], ['since', spec.since], ['group', spec.group]])])),
    ]);
  }
  return new MapReply(entries);
}

function command(s: ClientSession, argv: Buffer[]): Reply {
  const table = s.server.commands;
  if (argv.length === 1) return [...table.all()].map(commandInfo);
  const sub = argLower(argv[1]!);
  const named = (): CommandSpec[] => (argv.length === 2 ? [...table.all()] : argv.slice(2).flatMap((a) => table.get(argLower(a)) ?? []));
  switch (sub) {
    case 'count':
      subArity(argv, 2, 'command|count');
      return table.size;
    case 'info':
      if (argv.length === 2) return [...table.all()].map(commandInfo);
      return argv.slice(2).map((a) => {
        const spec = table.get(argLower(a));
        return spec === undefined ? undefined : commandInfo(spec);
      });
    case 'docs':
      return new MapReply(named().map((spec) => [spec.name, commandDocs(spec)]));
    case 'list':
      return [...table.all()].map((spec) => spec.name);
    case 'help':
      return ['COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:', '(no subcommand)', '    Return details about all commands.', 'COUNT', 'DOCS [<command-name> ...]', 'INFO [<command-name> ...]', 'LIST'].map((l) => new SimpleReply(l));
    default:
      throw unknownSubcommand(argv, 'COMMAND');
  }
}

/** What CONFIG GET reports: fixed facts and our limits under Redis' parameter names. */
function configParameters(s: ClientSession): Array<[string, string]> {
  const l = s.limits;
  return [
    ['save', ''],
    ['appendonly', 'yes'],
    ['appendfsync', 'everysec'],
    ['maxmemory', '0'],
    ['maxmemory-policy', 'noeviction'],
    ['databases', '1'],
    ['maxclients', String(l.clientsMax)],
    ['timeout', String(Math.floor(l.idleTimeoutMs / 1000))],
    ['proto-max-bulk-len', String(l.valueBytesMax)],
    ['client-query-buffer-limit', String(l.requestBytesMax)],
    ['port', s.server.tls ? '0' : String(s.server.port)],
    ['tls-port', s.server.tls ? String(s.server.port) : '0'],
    ['bind', s.server.host],
    ['dir', s.service.info().dataDir],
    ['cluster-enabled', 'no'],
  ];
}

function config(s: ClientSession, argv: Buffer[]): Reply {
  const sub = argLower(argv[1]!);
  switch (sub) {
    case 'get': {
      subArity(argv, -3, 'config|get');
      const params = configParameters(s);
      const picked: Array<[Reply, Reply]> = [];
      const seen = new Set<string>();
      for (const pattern of argv.slice(2)) {
        for (const [name, value] of params) {
          if (!seen.has(name) && globMatch(pattern, Buffer.from(name), true)) {
            seen.add(name);
            picked.push([name, value]);
          }
        }
      }
      return new MapReply(picked);
    }
    case 'set':
      subArity(argv, -4, 'config|set');
      return new ErrorReply(`ERR CONFIG SET is not supported: '${argText(argv[2]!)}' comes from StrataDB's configuration file`);
    case 'resetstat':
      subArity(argv, 2, 'config|resetstat');
      return OK;
    case 'rewrite':
      subArity(argv, 2, 'config|rewrite');
      return new ErrorReply('ERR CONFIG REWRITE is not supported: edit StrataDB\'s configuration file');
    case 'help':
      return ['CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:', 'GET <pattern>', 'RESETSTAT', 'HELP'].map((l) => new SimpleReply(l));
    default:
      throw unknownSubcommand(argv, 'CONFIG');
  }
}

const CONNECTION_FAST = ['@fast', '@connection'] as const;

export const SERVER_COMMANDS: readonly CommandSpec[] = [
  defineCommand({ name: 'ping', arity: -1, flags: ['fast'], categories: CONNECTION_FAST, group: 'connection', summary: 'Returns the server\'s liveliness response.', since: '1.0.0', access: 'none', handler: ping }),
  defineCommand({ name: 'echo', arity: 2, flags: ['fast'], categories: CONNECTION_FAST, group: 'connection', summary: 'Returns the given string.', since: '1.0.0', access: 'none', handler: (_s, a) => a[1]! }),
  defineCommand({ name: 'quit', arity: -1, flags: ['no_auth', 'fast'], categories: CONNECTION_FAST, group: 'connection', summary: 'Closes the connection.', since: '1.0.0', access: 'none', handler: quit }),
  defineCommand({ name: 'hello', arity: -1, flags: ['no_auth', 'fast'], categories: CONNECTION_FAST, group: 'connection', summary: 'Handshakes with the Redis server.', since: '6.0.0', access: 'barrier', handler: hello }),
  defineCommand({ name: 'auth', arity: -2, flags: ['no_auth', 'fast'], categories: CONNECTION_FAST, group: 'connection', summary: 'Authenticates the connection.', since: '1.0.0', access: 'none', handler: auth }),
  defineCommand({ name: 'readonly', arity: 1, flags: ['fast'], categories: CONNECTION_FAST, group: 'cluster', summary: 'Lets reads on this connection be served by any replica, possibly stale (cluster nodes).', since: '3.0.0', access: 'barrier', handler: (s) => (s.setReadConsistency('stale'), OK) }),
  defineCommand({ name: 'readwrite', arity: 1, flags: ['fast'], categories: CONNECTION_FAST, group: 'cluster', summary: 'Restores linearizable reads on this connection (after READONLY).', since: '3.0.0', access: 'barrier', handler: (s) => (s.setReadConsistency('linearizable'), OK) }),
  defineCommand({ name: 'select', arity: 2, flags: ['fast'], categories: CONNECTION_FAST, group: 'connection', summary: 'Changes the selected database (StrataDB has database 0 only).', since: '1.0.0', access: 'none', handler: select }),
  defineCommand({ name: 'info', arity: -1, flags: [], categories: ['@slow', '@dangerous'], group: 'server', summary: 'Returns information and statistics about the server.', since: '1.0.0', access: 'barrier', handler: info }),
  defineCommand({ name: 'time', arity: 1, flags: ['fast'], categories: ['@fast'], group: 'server', summary: 'Returns the server time.', since: '2.6.0', access: 'none', handler: time }),
  defineCommand({ name: 'client', arity: -2, flags: [], categories: ['@slow', '@connection'], group: 'connection', summary: 'A container for client connection commands.', since: '2.4.0', access: 'none', subcommands: ['client|id', 'client|setname', 'client|getname', 'client|list', 'client|info', 'client|setinfo', 'client|help'], handler: client }),
  defineCommand({ name: 'command', arity: -1, flags: [], categories: ['@slow', '@connection'], group: 'server', summary: 'Returns detailed information about all commands.', since: '2.8.13', access: 'none', subcommands: ['command|count', 'command|docs', 'command|info', 'command|list', 'command|help'], handler: command }),
  defineCommand({ name: 'config', arity: -2, flags: [], categories: ['@slow'], group: 'server', summary: 'A container for server configuration commands.', since: '2.0.0', access: 'none', subcommands: ['config|get', 'config|set', 'config|resetstat', 'config|rewrite', 'config|help'], handler: config }),
];
