/** `op = read | write | read,write`: which kinds of Engine API calls a token allows. */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";

export interface OpCaveat {
  readonly name: "op";
  /** Requests that only read (the route table's effect "read": GET and HEAD routes that change nothing). */
  readonly read: boolean;
  /** Every other request: POST, PUT, DELETE, OPTIONS, and GET routes that act (the websocket attach). */
  readonly write: boolean;
}

/** Each of read and write at most once, comma-separated: exactly these four spellings. */
export function parseOp(value: string): OpCaveat {
  switch (value) {
    case "read":
      return { name: "op", read: true, write: false };
    case "write":
      return { name: "op", read: false, write: true };
    case "read,write":
    case "write,read":
      return { name: "op", read: true, write: true };
    default:
      throw new AgentError(
        "ERR_MACAROON_CAVEAT",
        `invalid op ${quotePredicate(value)}: expected read, write or read,write`,
      );
  }
}

export function formatOp(c: OpCaveat): string {
  return [c.read ? "read" : "", c.write ? "write" : ""].filter((s) => s !== "").join(",");
}
