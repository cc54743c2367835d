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

export function formatOp(c: OpCaveat): string {
  return [c.read ? "read" : "", c.write ? "write" : ""].filter((s) => s !== "").join(",");
}
