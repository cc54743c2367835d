/**
 * Test reference: parseCaveat (caveats/grammar.ts) and parseOp (caveats/op.ts) as written before the speed rewrite
 * (from the git history), for the differential tests in fast-path.test.ts.
 */
import { AgentError } from "../../../../src/errors.ts";
import { quotePredicate } from "../../../../src/macaroon/failures.ts";
import type { OpCaveat } from "../../../../src/macaroon/caveats/op.ts";

export interface CaveatText {
  readonly name: string;
  readonly value: string;
}

const CAVEAT = /^([a-z][a-z0-9_]{0,31}) *= *([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)$/;

/** Splits caveat text; throws ERR_MACAROON_CAVEAT when it is not `name = value` in printable ASCII. */
export function parseCaveat(text: string): CaveatText {
  const match = text.length <= 1024 ? CAVEAT.exec(text) : null;
  if (match === null) {
    throw new AgentError(
      "ERR_MACAROON_CAVEAT",
      `caveat ${quotePredicate(text)} is not of the form "name = value"`,
    );
  }
  return { name: match[1]!, value: match[2]! };
}

export function parseOp(value: string): OpCaveat {
  const parts = value.split(",");
  let read = false;
  let write = false;
  for (const part of parts) {
    if (part === "read" && !read) read = true;
    else if (part === "write" && !write) write = true;
    else {
      throw new AgentError(
        "ERR_MACAROON_CAVEAT",
        `invalid op ${quotePredicate(value)}: expected read, write or read,write`,
      );
    }
  }
  return { name: "op", read, write };
}
