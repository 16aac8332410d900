/**
 * Write-path parsers of the time-series front ends: InfluxDB line protocol,
 * Prometheus remote write and the JSON points body, plus the validation
 * rules they share. Each turns a request body into `TsPoint`s or throws a
 * StrataError naming the problem (line and column, JSON path, byte offset).
 */
export * from './validate.js';
export * from './line-protocol.js';
export * from './prom-remote-write.js';
export * from './json-points.js';
export * from './parse-pool.js';
