/** Size limits applied to every token before and while it is decoded and verified. */
import { AgentError } from "../errors.ts";

export interface MacaroonLimits {
  /** Characters of token text: a whole X-Macaroon header (root plus discharges). */
  readonly maxTextLength: number;
  /** Caveats in one macaroon. */
  readonly maxCaveats: number;
  /** Bytes in one field (identifier, caveat id, verification id, location). */
  readonly maxFieldBytes: number;
  /** Discharge macaroons sent with one root macaroon. */
  readonly maxDischarges: number;
  /** Nesting of third-party caveats (a discharge that itself needs a discharge is depth 2). */
  readonly maxDepth: number;
}

export const DEFAULT_MACAROON_LIMITS: MacaroonLimits = Object.freeze({
  maxTextLength: 16 * 1024,
  maxCaveats: 64,
  maxFieldBytes: 4 * 1024,
  maxDischarges: 8,
  maxDepth: 4,
});

/** Completes partial limits with the defaults; every value must be a positive integer. */
export function resolveLimits(limits?: Partial<MacaroonLimits>): MacaroonLimits {
  if (limits === undefined || limits === DEFAULT_MACAROON_LIMITS) return DEFAULT_MACAROON_LIMITS;
  const merged = { ...DEFAULT_MACAROON_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new AgentError("ERR_USAGE", "macaroon limits must be positive integers", name);
    }
  }
  return merged;
}
