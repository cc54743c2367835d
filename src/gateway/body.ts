/**
 * What the gateway does with a request body, before anything is decided. The plugin sees a body only when
 * dockerd forwards it (JSON under 1 MiB); the gateway reads every body itself, so:
 *
 * - a JSON body (`Content-Type: application/json`) is read whole, up to MAX_JSON_BODY_BYTES, and judged by
 *   the policy exactly as on the plugin socket; a bigger one is 413, one without a Content-Length (chunked)
 *   is 411: a JSON body the gateway has not read whole is never forwarded;
 * - the routes that upload a stream (a build context, `docker load`, `docker import`, `docker cp` into a
 *   container, a plugin's rootfs) are decided on their route and query, and the body is then streamed to
 *   dockerd as it comes, never buffered;
 * - any other route takes no body but JSON (415): a body of another type could be read by a handler the
 *   policy never saw it reach.
 */
import { isJsonContentType, MAX_JSON_BODY_BYTES } from "../authz/body.ts";
import { AgentError } from "../errors.ts";

/** A request the gateway refuses before deciding it: the HTTP status to answer with the message. */
export class GatewayRefusal extends AgentError {
  constructor(readonly status: number, message: string) {
    super("ERR_GATEWAY_BODY", message);
  }
}

/** Actions whose body is an upload streamed to dockerd (decided on the route and query). */
const STREAMED_ACTIONS = new Set([
  "image:build",
  "image:load",
  "image:import",
  "container:archive-put",
  "plugin:create",
]);

export type BodyPlan =
  | { readonly kind: "none" }
  | { readonly kind: "json"; readonly length: number }
  | { readonly kind: "stream" };

/** The plan for the body of a request to `action` (undefined: an unknown route); throws a typed refusal. */
export function bodyPlan(action: string | undefined, method: string, headers: Headers): BodyPlan {
  const chunked = headers.has("transfer-encoding");
  const declared = headers.get("content-length");
  const length = declared === null ? 0 : Number(declared);
  if (declared !== null && (!/^[0-9]{1,15}$/.test(declared.trim()) || !Number.isSafeInteger(length))) {
    throw new GatewayRefusal(400, "a bad Content-Length");
  }
  const hasBody = method !== "GET" && method !== "HEAD" && (chunked || length > 0);
  if (!hasBody) return { kind: "none" };
  if (action !== undefined && STREAMED_ACTIONS.has(action)) return { kind: "stream" };
  if (!isJsonContentType(headers.get("content-type") ?? undefined)) {
    throw new GatewayRefusal(415, "this route takes a JSON body only (Content-Type: application/json)");
  }
  if (chunked) {
    throw new GatewayRefusal(
      411,
      "a JSON body must be sent with a Content-Length: a chunked one cannot be checked before it is forwarded",
    );
  }
  if (length > MAX_JSON_BODY_BYTES) {
    throw new GatewayRefusal(413, `a JSON body larger than ${MAX_JSON_BODY_BYTES} bytes is refused`);
  }
  return { kind: "json", length };
}

/** Reads exactly the declared JSON body (at most `length` bytes: a client that sends more is refused). */
export async function readJsonBody(
  body: ReadableStream<Uint8Array> | null,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  if (body !== null) {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (at + value.length > length) {
          throw new GatewayRefusal(400, "the body is longer than its Content-Length");
        }
        out.set(value, at);
        at += value.length;
      }
    } finally {
      reader.releaseLock();
    }
  }
  if (at !== length) throw new GatewayRefusal(400, "the body is shorter than its Content-Length");
  return out;
}
