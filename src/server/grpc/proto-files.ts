import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ERROR_CODES, StrataError } from '../../base/index.js';

/**
 * How the .proto files are turned into JavaScript objects, for the server and
 * for clients built from the same files (tests, examples):
 * - field names in lowerCamelCase (`expire_at_ms` → `expireAtMs`);
 * - 64-bit integers as JavaScript numbers (`longs: Number`): every int64 in
 *   the API is a millisecond time, a duration or a count, all far below
 *   2^53, so numbers are exact and easier to use than strings;
 * - enums as their names (`'IF_ABSENT'`, `'SERVING'`);
 * - bytes as Buffer (the loader's default);
 * - absent fields filled with defaults, and each oneof's set member named
 *   by a virtual field (`expiry: 'ttlMs'`, `op: 'put'`).
 */
export const PROTO_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** The .proto files, relative to the proto directory. */
export const PROTO_FILES: readonly string[] = ['strata/v1/kv.proto', 'strata/v1/timeseries.proto', 'grpc/health/v1/health.proto'];

/** Fully qualified service names as the health service reports them. */
export const KV_SERVICE_NAME = 'strata.v1.KV';
export const TS_SERVICE_NAME = 'strata.v1.TimeSeries';
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/**
 * The repository's (or installed package's) `proto/` directory. This file is
 * compiled to dist/src/server/grpc/, four levels below the root.
 */
export function protoDir(): string {
  const dir = fileURLToPath(new URL('../../../../proto/', import.meta.url));
  if (!existsSync(`${dir}strata/v1/kv.proto`)) {
    throw new StrataError(
      ERROR_CODES.CONFIG,
      `gRPC front end: .proto files not found in ${dir} (expected proto/strata/v1/kv.proto at the package root, next to dist/; is the proto/ directory installed?)`,
    );
  }
  return dir;
}

export interface GrpcDefinitions {
  /** The whole package definition (for grpc.loadPackageDefinition or reflection). */
  packageDefinition: protoLoader.PackageDefinition;
  kv: grpc.ServiceDefinition;
  timeseries: grpc.ServiceDefinition;
  health: grpc.ServiceDefinition;
}

let cached: GrpcDefinitions | undefined;

/** Loads (once per process) the KV, TimeSeries and health service definitions from the .proto files. */
export function loadGrpcDefinitions(): GrpcDefinitions {
  if (cached !== undefined) return cached;
  const packageDefinition = protoLoader.loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir()] });
  cached = {
    packageDefinition,
    kv: serviceOf(packageDefinition, KV_SERVICE_NAME),
    timeseries: serviceOf(packageDefinition, TS_SERVICE_NAME),
    health: serviceOf(packageDefinition, HEALTH_SERVICE_NAME),
  };
  return cached;
}

function serviceOf(pkg: protoLoader.PackageDefinition, name: string): grpc.ServiceDefinition {
  const def = pkg[name];
  if (def === undefined || 'format' in def) throw new StrataError(ERROR_CODES.CONFIG, `gRPC front end: service ${name} missing from the .proto files`);
  return def;
}
