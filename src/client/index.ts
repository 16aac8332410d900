export { StrataClient, StrataClientError } from './strata-client.js';
export type { StrataClientOptions } from './strata-client.js';
