import { describe, expect, test } from "bun:test";
import { parseAuthzRequest } from "../../../src/authz/wire.ts";
import { bodyWithheld, decodeJsonBody } from "../../../src/authz/body.ts";
import { AgentError } from "../../../src/errors.ts";

const b64 = (s: string) => btoa(s);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof AgentError ? err.code : "NOT_AGENT_ERROR";
  }
  return undefined;
}

describe("parseAuthzRequest", () => {
  test("reads the fields dockerd really sends", () => {
    const r = parseAuthzRequest(
      JSON.stringify({
        User: "alice",
        UserAuthNMethod: "TLS",
        RequestMethod: "POST",
        RequestUri: "/v1.41/containers/create",
        RequestBody: b64('{"Image":"tiny"}'),
        RequestHeaders: { "Content-Type": ["application/json"], "X-Macaroon": ["tok"] },
        RequestPeerCertificates: ["Y2VydA=="],
      }),
      "request",
    );
    expect(r.user).toBe("alice");
    expect(r.authMethod).toBe("TLS");
    expect(r.method).toBe("POST");
    expect(r.uri).toBe("/v1.41/containers/create");
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("x-macaroon")).toBe("tok");
    expect(r.peerCertificates).toEqual(["Y2VydA=="]);
  });

  test("accepts the seed docs' spellings (AuthenticationMethod, RequestURI) and plain-string headers", () => {
    const r = parseAuthzRequest(
      JSON.stringify({
        AuthenticationMethod: "TLS",
        RequestMethod: "GET",
        RequestURI: "/_ping",
        RequestHeaders: { Accept: "x" },
      }),
      "request",
    );
    expect(r.authMethod).toBe("TLS");
    expect(r.uri).toBe("/_ping");
    expect(r.headers.get("accept")).toBe("x");
    expect(r.user).toBeUndefined();
  });

  test("reads ResponseStatusCode only in the response phase", () => {
    const text = JSON.stringify({ RequestMethod: "GET", RequestUri: "/_ping", ResponseStatusCode: 200 });
    expect(parseAuthzRequest(text, "response").responseStatus).toBe(200);
    expect(parseAuthzRequest(text, "request").responseStatus).toBeUndefined();
  });

  const bad: Array<[string, string, string]> = [
    ["not JSON", "{", "ERR_REQUEST_JSON"],
    ["a JSON array", "[]", "ERR_REQUEST_JSON"],
    ["JSON null", "null", "ERR_REQUEST_JSON"],
    ["no method", JSON.stringify({ RequestUri: "/_ping" }), "ERR_REQUEST_FIELD"],
    [
      "a lower-case method",
      JSON.stringify({ RequestMethod: "get", RequestUri: "/_ping" }),
      "ERR_REQUEST_FIELD",
    ],
    [
      "a numeric user",
      JSON.stringify({ User: 5, RequestMethod: "GET", RequestUri: "/_ping" }),
      "ERR_REQUEST_FIELD",
    ],
    [
      "a user with a newline",
      JSON.stringify({ User: "a\nb", RequestMethod: "GET", RequestUri: "/" }),
      "ERR_REQUEST_FIELD",
    ],
    ["no URI", JSON.stringify({ RequestMethod: "GET" }), "ERR_REQUEST_FIELD"],
    [
      "headers as a list",
      JSON.stringify({ RequestMethod: "GET", RequestUri: "/", RequestHeaders: [] }),
      "ERR_REQUEST_FIELD",
    ],
    [
      "header values as numbers",
      JSON.stringify({ RequestMethod: "GET", RequestUri: "/", RequestHeaders: { A: [1] } }),
      "ERR_REQUEST_FIELD",
    ],
    [
      "certificates as a string",
      JSON.stringify({ RequestMethod: "GET", RequestUri: "/", RequestPeerCertificates: "x" }),
      "ERR_REQUEST_FIELD",
    ],
    [
      "a fractional status",
      JSON.stringify({ RequestMethod: "GET", RequestUri: "/", ResponseStatusCode: 2.5 }),
      "ERR_REQUEST_FIELD",
    ],
  ];
  for (const [what, text, code] of bad) {
    test(`refuses ${what} with ${code}`, () => {
      expect(codeOf(() => parseAuthzRequest(text, "response"))).toBe(code);
    });
  }

  test("never throws anything but AgentError on fuzzed input", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const base = JSON.stringify({
      User: "bob",
      RequestMethod: "POST",
      RequestUri: "/v1.41/containers/create",
      RequestBody: b64("{}"),
    });
    for (let i = 0; i < 2000; i++) {
      const chars = [...base];
      for (let k = 0; k < 3; k++) {
        chars[Math.floor(rnd() * chars.length)] = String.fromCharCode(Math.floor(rnd() * 128));
      }
      const code = codeOf(() => parseAuthzRequest(chars.join(""), "request"));
      expect(code === undefined || code.startsWith("ERR_REQUEST")).toBe(true);
    }
  });
});

describe("request bodies", () => {
  const req = (fields: Record<string, unknown>) =>
    parseAuthzRequest(
      JSON.stringify({ RequestMethod: "POST", RequestUri: "/containers/create", ...fields }),
      "request",
    );

  test("decodes a forwarded JSON body", () => {
    expect(decodeJsonBody(req({ RequestBody: b64('{"Image":"tiny"}') }))).toEqual({ Image: "tiny" });
  });

  test("a JSON POST with a length but no forwarded body was withheld", () => {
    const r = req({
      RequestHeaders: { "Content-Type": ["application/json"], "Content-Length": ["1600000"] },
    });
    expect(bodyWithheld(r)).toBe(true);
  });

  test("a chunked JSON POST (no Content-Length) was withheld", () => {
    expect(bodyWithheld(req({ RequestHeaders: { "Content-Type": ["application/json; charset=utf-8"] } })))
      .toBe(true);
  });

  test("an empty JSON POST and a non-JSON POST were not withheld", () => {
    expect(
      bodyWithheld(
        req({ RequestHeaders: { "Content-Type": ["application/json"], "Content-Length": ["0"] } }),
      ),
    ).toBe(false);
    expect(bodyWithheld(req({ RequestHeaders: { "Content-Type": ["text/plain"] } }))).toBe(false);
    expect(
      bodyWithheld(req({ RequestBody: b64("{}"), RequestHeaders: { "Content-Type": ["application/json"] } })),
    ).toBe(false);
  });

  test("refuses bad base64, bad UTF-8 and bad JSON with their own codes", () => {
    expect(codeOf(() => decodeJsonBody(req({ RequestBody: "***" })))).toBe("ERR_REQUEST_BASE64");
    expect(codeOf(() => decodeJsonBody(req({ RequestBody: btoa("\xff\xfe") })))).toBe("ERR_REQUEST_JSON");
    expect(codeOf(() => decodeJsonBody(req({ RequestBody: b64("{nope") })))).toBe("ERR_REQUEST_JSON");
  });

  test("refuses a body larger than the agent inspects", () => {
    expect(codeOf(() => decodeJsonBody(req({ RequestBody: "A".repeat(6 * 1024 * 1024) })))).toBe(
      "ERR_REQUEST_TOO_LARGE",
    );
  });
});

describe("form bodies", () => {
  test("a form-encoded or multipart write is recognised (its fields would override the query)", async () => {
    const { hasFormBody } = await import("../../../src/authz/body.ts");
    const req = (type: string, method = "POST") =>
      parseAuthzRequest(
        JSON.stringify({
          RequestMethod: method,
          RequestUri: "/images/create?fromImage=ok",
          RequestHeaders: { "Content-Type": [type] },
        }),
        "request",
      );
    expect(hasFormBody(req("application/x-www-form-urlencoded"))).toBe(true);
    expect(hasFormBody(req("multipart/form-data; boundary=x"))).toBe(true);
    expect(hasFormBody(req("application/json"))).toBe(false);
    expect(hasFormBody(req("application/x-www-form-urlencoded", "GET"))).toBe(false);
  });
});
