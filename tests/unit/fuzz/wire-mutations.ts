/**
 * Structure-aware mutations of real AuthZReq/AuthZRes payloads (tests/vectors/wire/captured.json), shared by
 * the quick fuzz test and scripts/soak-fuzz.ts. Each mutation says whether it breaks the wire format on
 * purpose (`mustDeny`): those must be answered Allow:false whatever the policy says. The others may go
 * either way, but are never allowed when the agent's own parser refuses them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface WireCase {
  readonly id: string;
  readonly command: string;
  readonly endpoint: "AuthZPlugin.AuthZReq" | "AuthZPlugin.AuthZRes";
  readonly body: Record<string, unknown>;
}

export interface Mutation {
  readonly kind: string;
  readonly endpoint: WireCase["endpoint"];
  readonly payload: string | Uint8Array<ArrayBuffer>;
  /** True when the mutation breaks the wire format, so the only right answer is a deny. */
  readonly mustDeny: boolean;
}

export function loadCapturedCases(root: string): { source: string; cases: WireCase[] } {
  const file = join(root, "tests", "vectors", "wire", "captured.json");
  const data = JSON.parse(readFileSync(file, "utf8")) as { source: string; cases: WireCase[] };
  return { source: data.source, cases: data.cases };
}

/** mulberry32: small, fast and reproducible from a 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const pick = <T>(rng: () => number, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const int = (rng: () => number, n: number) => Math.floor(rng() * n);

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const HUGE = "A".repeat(1024 * 1024);
const NESTED_ARRAY = "[".repeat(10_000) + "]".repeat(10_000);
const NESTED_OBJECT = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
const WRONG_TYPES: readonly unknown[] = [0, 1.5, -1, true, false, [], ["x"], {}, { a: "b" }, 1e308];
const REQUIRED = ["RequestMethod", "RequestUri"] as const;
/** Fields whose non-null values must be of one type (wire.ts refuses the rest). */
const TYPED = ["User", "RequestMethod", "RequestUri", "RequestBody", "UserAuthNMethod"] as const;
const URI_TRICKS: readonly ((uri: string) => string)[] = [
  (u) => u.replace(/\//g, "%2f"),
  (u) => u.replace(/\//g, "%2F"),
  (u) => u.replace("/v1.", "/%761."),
  (u) => u.replace(/^\/v[0-9.]+/, "/v1.41/.."),
  (u) => u.replace(/^\/v[0-9.]+/, "/v1.41/./"),
  (u) => `/${u}`,
  (u) => `${u}/`,
  (u) => u.replace(/\//g, "//"),
  (u) => u.replace(/\//g, "\\"),
  (u) => u.replace(/e/g, "%65"),
  (u) => u.replace(/c/g, "%u0063"),
  (u) => `${u}%00`,
  (u) => `${u}\u0000`,
  (u) => `${u}#frag`,
  (u) => `${u}?${"a=b&".repeat(2000)}`,
  (u) => `${u}?filters=%7B%22`,
  (u) => u.replace(/o/g, "\u043e"), // Cyrillic o
  (u) => u.replace(/\//g, "\uff0f"), // fullwidth solidus
  (u) => u.toUpperCase(),
  (u) => `http://evil${u}`,
  (u) => `//evil${u}`,
  (u) => `%2e%2e${u}`,
  (u) => u.replace(/[a-z]/, "%%"),
  () => "",
  () => "*",
];

/** One mutation of one captured case, chosen by the generator. */
export function mutate(rng: () => number, c: WireCase): Mutation {
  const endpoint = c.endpoint;
  const obj = (): Record<string, unknown> => structuredClone(c.body);
  const json = (o: unknown, mustDeny: boolean, kind: string): Mutation => ({
    kind,
    endpoint,
    payload: JSON.stringify(o),
    mustDeny,
  });
  const text = JSON.stringify(c.body);
  const hasJsonBody = typeof c.body["RequestBody"] === "string" && c.body["RequestMethod"] !== "GET" &&
    endpoint === "AuthZPlugin.AuthZReq";
  switch (int(rng, 16)) {
    case 0: {
      const o = obj();
      const f = pick(rng, TYPED);
      if (o[f] === undefined && f !== "RequestMethod" && f !== "RequestUri") o[f] = "";
      o[f] = pick(rng, WRONG_TYPES);
      return json(o, true, `wrong type ${f}`);
    }
    case 1: {
      const o = obj();
      const f = pick(rng, REQUIRED);
      delete o[f];
      return json(o, true, `missing ${f}`);
    }
    case 2: {
      const o = obj();
      const f = pick(rng, ["User", "RequestUri", "RequestBody", "RequestHeaders", "Extra"]);
      if (f === "User") {
        o["User"] = HUGE;
        return json(o, true, "huge User");
      }
      if (f === "RequestHeaders") o[f] = { "X-Huge": [HUGE] };
      else if (f === "RequestBody") o[f] = HUGE;
      else if (f === "RequestUri") o[f] = `${String(o[f])}?x=${HUGE}`;
      else o[f] = HUGE;
      return json(o, false, `huge ${f}`);
    }
    case 3: {
      // Deep nesting: as the whole payload, inside an extra field, and inside a JSON body.
      const where = int(rng, 3);
      if (where === 0) {
        return { kind: "deep nesting (payload)", endpoint, payload: NESTED_ARRAY, mustDeny: true };
      }
      if (where === 1) {
        return {
          kind: "deep nesting (extra field)",
          endpoint,
          payload: `${text.slice(0, -1)},"Extra":${NESTED_OBJECT}}`,
          mustDeny: false,
        };
      }
      const o = obj();
      o["RequestBody"] = b64(enc.encode(NESTED_OBJECT));
      return json(o, false, "deep nesting (body)");
    }
    case 4: {
      if (!hasJsonBody) return mutate(rng, c);
      const o = obj();
      const bad = pick(rng, ["!!!!", "YWJj=ZGVm", "a", "ab=", "Y W J j", "eyJ\u00e9", "=", "e30==="]);
      o["RequestBody"] = bad;
      return json(o, true, "invalid base64 body");
    }
    case 5: {
      if (!hasJsonBody) return mutate(rng, c);
      const o = obj();
      const body = atob(String(o["RequestBody"]));
      const at = 1 + int(rng, Math.max(1, body.length - 2));
      const bytes = Uint8Array.from(body, (ch) => ch.charCodeAt(0));
      const bad = pick(rng, [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [
        0xf8,
        0x88,
        0x80,
        0x80,
      ]]);
      const out = new Uint8Array(bytes.length + bad.length);
      out.set(bytes.subarray(0, at));
      out.set(bad, at);
      out.set(bytes.subarray(at), at + bad.length);
      o["RequestBody"] = b64(out);
      return json(o, true, "invalid UTF-8 body");
    }
    case 6: {
      // Raw JSON text with a duplicated key: JSON.parse keeps the last, Go keeps the last too.
      const key = pick(rng, ["RequestUri", "RequestMethod", "User", "RequestHeaders", "RequestBody"]);
      const value = key === "RequestUri"
        ? JSON.stringify(pick(rng, ["/v1.41/containers/json", "/_ping", "/v1.41/containers/create"]))
        : key === "RequestMethod"
        ? JSON.stringify(pick(rng, ["GET", "POST", "DELETE"]))
        : key === "RequestHeaders"
        ? "{}"
        : JSON.stringify("root");
      const first = rng() < 0.5;
      const payload = first
        ? `{"${key}":${value},${text.slice(1)}`
        : `${text.slice(0, -1)},"${key}":${value}}`;
      return { kind: `duplicate key ${key}`, endpoint, payload, mustDeny: false };
    }
    case 7: {
      const payload = pick(rng, [
        "",
        "null",
        "[]",
        "1",
        '"x"',
        "true",
        "{",
        "}",
        "{}",
        '{"',
        text.slice(1),
        "\ufeff" + text,
      ]);
      return { kind: "non-JSON or non-object", endpoint, payload, mustDeny: payload !== "\ufeff" + text };
    }
    case 8: {
      const bytes = new Uint8Array(int(rng, 512));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(rng, 256);
      // A leading "{" keeps the parser busy a little longer before failing.
      if (rng() < 0.5 && bytes.length > 0) bytes[0] = 0x7b;
      return { kind: "random bytes", endpoint, payload: bytes, mustDeny: true };
    }
    case 9: {
      const cut = int(rng, text.length);
      return { kind: "truncation", endpoint, payload: text.slice(0, cut), mustDeny: true };
    }
    case 10: {
      // Field-name case variants: only RequestUri/RequestURI are known spellings.
      const o = obj();
      const variant = pick(rng, [
        "requesturi",
        "REQUESTURI",
        "Requesturi",
        "requestUri",
        "RequestURI",
        "RequestUrl",
      ]);
      const uri = o["RequestUri"];
      delete o["RequestUri"];
      o[variant] = uri;
      return json(o, variant !== "RequestURI", `field name ${variant}`);
    }
    case 11: {
      // Unicode escapes in the JSON text of the URI: the same string after parsing.
      const uri = String(c.body["RequestUri"]);
      const escaped = [...uri].map((
        ch,
      ) => (rng() < 0.5 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : ch))
        .join("").replace(/"/g, '\\"');
      const payload = text.replace(JSON.stringify(uri), `"${escaped}"`);
      return { kind: "unicode-escaped URI", endpoint, payload, mustDeny: false };
    }
    case 12: {
      const o = obj();
      const trick = int(rng, URI_TRICKS.length);
      o["RequestUri"] = URI_TRICKS[trick]!(String(o["RequestUri"]));
      return json(o, false, `URI trick ${trick}`);
    }
    case 13: {
      const o = obj();
      const headers = { ...(o["RequestHeaders"] as Record<string, unknown> | undefined) };
      const odd = int(rng, 8);
      if (odd === 0) headers["Content-Type"] = 42;
      else if (odd === 1) headers["Content-Type"] = [["application/json"]];
      else if (odd === 2) headers["content-type"] = ["application/x-www-form-urlencoded"];
      else if (odd === 3) headers["Content-Length"] = ["99999999999"];
      else if (odd === 4) headers["X-Macaroon"] = ["", "x"];
      else if (odd === 5) headers[""] = [""];
      else if (odd === 6) headers["Content-Type"] = "application/json";
      else o["RequestHeaders"] = pick(rng, [[], "x", 1, true]);
      if (odd !== 7) o["RequestHeaders"] = headers;
      return json(o, odd <= 1 || odd === 7, `header oddity ${odd}`);
    }
    case 14: {
      const o = obj();
      const f = pick(rng, [
        "RequestPeerCertificates",
        "ResponseStatusCode",
        "ResponseBody",
        "ResponseHeaders",
      ]);
      const bad = pick(rng, WRONG_TYPES);
      o[f] = f === "RequestPeerCertificates"
        ? pick(rng, [1, "x", [1], Array(17).fill("x"), ["not a cert"]])
        : bad;
      return json(o, f === "RequestPeerCertificates", `odd ${f}`);
    }
    default: {
      // Byte flips in the serialized payload: anything may happen, but never an allowed malformed request.
      const bytes = enc.encode(text);
      for (let n = 1 + int(rng, 3); n > 0; n--) bytes[int(rng, bytes.length)]! ^= 1 << int(rng, 8);
      return { kind: "byte flips", endpoint, payload: bytes, mustDeny: false };
    }
  }
}

/** The policy the fuzzers run under: the captured users may do anything, so only malformation can deny. */
export const ALLOW_CAPTURED_USERS = `version: 1
rules:
  - id: local-socket
    who: anonymous
    allow: ["*"]
  - id: alice-all
    who: alice
    allow: ["*"]
`;

/** A read-only policy for the second property: no mutation of a captured write may become allowed. */
export const READ_ONLY_CAPTURED_USERS = `version: 1
rules:
  - id: reads
    who: ["anonymous", "alice"]
    allow: ["container:list", "container:inspect", "container:logs", "image:list", "image:inspect", "system:*", "volume:list", "volume:inspect", "network:list", "plugin:list"]
`;
