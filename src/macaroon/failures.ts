/**
 * The fixed, safe messages of the macaroon library. Messages never carry token, key or signature bytes; the
 * `detail` (for logs) says which structural rule failed, also without secret material.
 */
import { AgentError } from "../errors.ts";

export function formatError(detail: string): AgentError {
  return new AgentError("ERR_MACAROON_FORMAT", "malformed macaroon", detail);
}

export function limitError(detail: string): AgentError {
  return new AgentError("ERR_MACAROON_LIMIT", "macaroon exceeds a size limit", detail);
}

export function signatureError(detail: string): AgentError {
  return new AgentError("ERR_MACAROON_SIGNATURE", "macaroon signature is not valid", detail);
}

export function dischargeError(message: string, detail?: string): AgentError {
  return new AgentError("ERR_MACAROON_DISCHARGE", message, detail);
}

const MAX_QUOTED = 120;

/**
 * Quotes caveat text for a message: caveats are not secret, but they arrive from the client, so the text is
 * bounded and escaped (no control characters, no quotes that could break a log line).
 */
export function quotePredicate(text: string): string {
  const short = text.length > MAX_QUOTED ? text.slice(0, MAX_QUOTED) + "..." : text;
  // deno-lint-ignore no-control-regex
  return `"${short.replace(/[\u0000-\u001f\u007f-\u009f"\\\u2028\u2029]/g, escapeChar)}"`;
}

function escapeChar(c: string): string {
  if (c === '"') return '\\"';
  if (c === "\\") return "\\\\";
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}
