/**
 * Limits every front end enforces (DESIGN.md principle 5: bounded
 * everything). Each has a clear error when reached.
 */
export interface ServerLimits {
  /** Largest request: a RESP command (all its arguments), an HTTP body, a gRPC message. */
  requestBytesMax: number;
  /** Largest value a client may store. */
  valueBytesMax: number;
  /** Largest key. */
  keyBytesMax: number;
  /** Concurrent client connections per front end; the next one gets an error and is closed. */
  clientsMax: number;
  /** Commands parsed but not yet answered on one RESP connection before the server stops reading from it. */
  pipelineDepthMax: number;
  /** A connection idle this long is closed (0: never). */
  idleTimeoutMs: number;
  /** Replies queued for a client that does not read: past this the server stops executing its commands; past twice this it disconnects. */
  outputBufferBytesMax: number;
  /** Largest page a scan returns. */
  scanLimitMax: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  requestBytesMax: 64 * 1024 * 1024 + 64 * 1024,
  valueBytesMax: 64 * 1024 * 1024,
  keyBytesMax: 64 * 1024,
  clientsMax: 10_000,
  pipelineDepthMax: 1024,
  idleTimeoutMs: 0,
  outputBufferBytesMax: 64 * 1024 * 1024,
  scanLimitMax: 100_000,
});
