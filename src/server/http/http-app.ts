import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

/**
 * The fastify instance the HTTP front end builds. With TLS the server is an
 * `https.Server`, which TypeScript accepts as an `http.Server` (it is one in
 * everything fastify uses), so one instance type covers both.
 */
export type HttpApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>;
