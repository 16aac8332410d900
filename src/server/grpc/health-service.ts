import { status as GrpcCode } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import type { HealthCheckRequest, HealthCheckResponse, ServingStatus } from './messages.js';

type WatchCall = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/**
 * The standard grpc.health.v1 Health service over a small table of service
 * names and their states. Check answers the current state (NOT_FOUND for a
 * name not in the table); Watch sends the current state at once (or
 * SERVICE_UNKNOWN) and then every change. Watches end when `endWatches`
 * is called (the server is closing), so a graceful shutdown does not wait
 * on them. Needs no credentials.
 */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watches = new Map<string, Set<WatchCall>>();

  constructor(services: readonly string[], initial: ServingStatus) {
    for (const s of services) this.statuses.set(s, initial);
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Sets one service's state and tells its watchers when it changed. */
  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const call of this.watches.get(service) ?? []) call.write({ status });
  }

  /** Sets every known service's state. */
  setAll(status: ServingStatus): void {
    for (const service of [...this.statuses.keys()]) this.set(service, status);
  }

  /** Ends every Watch stream with OK (after the states already written). */
  endWatches(): void {
    const all = [...this.watches.values()].flatMap((s) => [...s]);
    this.watches.clear();
    for (const call of all) call.end();
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) callback({ code: GrpcCode.NOT_FOUND, details: `unknown service '${call.request.service}'` });
        else callback(null, { status });
      },
      Watch: (call: WatchCall) => {
        const service = call.request.service;
        let set = this.watches.get(service);
        if (set === undefined) {
          set = new Set();
          this.watches.set(service, set);
        }
        const watchers = set;
        watchers.add(call);
        const forget = (): void => {
          watchers.delete(call);
          if (watchers.size === 0 && this.watches.get(service) === watchers) this.watches.delete(service);
        };
        call.on('cancelled', forget);
        call.on('close', forget);
        call.write({ status: this.statuses.get(service) ?? 'SERVICE_UNKNOWN' });
      },
    };
  }
}
