/**
 * What the server's hooks need to know about a route, carried in fastify's
 * route `config` (typed by the augmentation below).
 */
export interface RouteMeta {
  /** The command name in metrics (`strata_commands_total{protocol="http",command=...}`). */
  name: string;
  /** Needs a read-write user (Authenticator.checkWrite). */
  write: boolean;
  /** Answers without authentication (only /health). */
  public: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    strata?: RouteMeta;
  }
}

/** The metrics name of requests that matched no route. */
export const UNMATCHED_ROUTE_NAME = 'unmatched';
