import { defaultConfig } from '../node/index.js';
import type { StrataConfig } from '../node/index.js';

/**
 * Limits every front end enforces (DESIGN.md principle 5: bounded
 * everything), each with a clear error when reached. They are the `limits`
 * section of the configuration (src/node/config.ts documents each field;
 * strata.example.yaml explains them for users).
 */
export type ServerLimits = StrataConfig['limits'];

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze(defaultConfig().limits);
