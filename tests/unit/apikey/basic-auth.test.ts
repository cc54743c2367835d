/** The Authorization header: `Basic base64(user:apikey)`, read strictly. */
import { describe, expect, test } from "bun:test";
import { MAX_AUTHORIZATION_LENGTH, newApiKey, parseBasicAuthorization } from "../../../src/apikey/index.ts";
import { freshRandom } from "./helpers.ts";

const KEY = newApiKey(freshRandom());
const basic = (text: string) => `Basic ${btoa(text)}`;

describe("parseBasicAuthorization", () => {
  test("reads user and key from Basic base64(user:apikey), the scheme in any case", () => {
    const expected = { ok: true, credentials: { user: "alice", key: KEY } } as const;
    expect(parseBasicAuthorization(basic(`alice:${KEY}`))).toEqual(expected);
    expect(parseBasicAuthorization(`basic ${btoa(`alice:${KEY}`)}`)).toEqual(expected);
    expect(parseBasicAuthorization(`BASIC ${btoa(`alice:${KEY}`)}`)).toEqual(expected);
    expect(parseBasicAuthorization(basic("ci-bot@example.org:x"))).toMatchObject({
      ok: true,
      credentials: { user: "ci-bot@example.org", key: "x" },
    });
  });

  test("no header, or an empty one, is missing", () => {
    for (const header of [undefined, null, ""]) {
      expect(parseBasicAuthorization(header)).toMatchObject({ ok: false, failure: "missing" });
    }
  });

  test("another scheme (Bearer, Digest, the bare key, no space) is refused", () => {
    for (
      const header of [
        `Bearer ${KEY}`,
        `Digest username="alice"`,
        KEY,
        `Basic${btoa(`alice:${KEY}`)}`,
        `Basic\t${btoa(`alice:${KEY}`)}`,
        ` Basic ${btoa(`alice:${KEY}`)}`,
        "Basic",
      ]
    ) {
      expect(parseBasicAuthorization(header)).toMatchObject({ ok: false, failure: "scheme" });
    }
  });

  test("anything but strict padded standard base64 is refused", () => {
    const good = btoa(`alice:${KEY}`);
    const url = btoa("alice:???").replaceAll("+", "-").replaceAll("/", "_"); // YWxpY2U6Pz8_
    for (
      const encoded of [
        "",
        good.replace(/=+$/, "") + (good.endsWith("=") ? "" : "x"), // padding dropped or a stray character
        good + "=",
        ` ${good}`,
        `${good} `,
        `${good.slice(0, 8)} ${good.slice(8)}`,
        `${good.slice(0, 8)}\n${good.slice(8)}`,
        url,
        "YQ=", // wrong padding
        "YR==", // non-zero trailing bits: a second spelling of "a"
        "!!!!",
        "\u00e9\u00e9\u00e9\u00e9",
      ]
    ) {
      expect(parseBasicAuthorization(`Basic ${encoded}`)).toMatchObject({ ok: false });
      const result = parseBasicAuthorization(`Basic ${encoded}`);
      expect(["base64", "scheme"]).toContain((result as { failure: string }).failure);
    }
    expect(parseBasicAuthorization(`Basic ${url}`)).toMatchObject({ failure: "base64" });
    expect(parseBasicAuthorization("Basic YR==")).toMatchObject({ failure: "base64" });
  });

  test("a header over the size limit is refused before it is decoded", () => {
    const huge = basic(`alice:${"A".repeat(MAX_AUTHORIZATION_LENGTH)}`);
    expect(parseBasicAuthorization(huge)).toMatchObject({ ok: false, failure: "too-large" });
    expect(parseBasicAuthorization("Basic " + "A".repeat(10_000_000))).toMatchObject({
      failure: "too-large",
    });
    const justUnder = basic(`alice:${"k".repeat(700)}`);
    expect(justUnder.length).toBeLessThanOrEqual(MAX_AUTHORIZATION_LENGTH);
    expect(parseBasicAuthorization(justUnder).ok).toBe(true);
  });

  test("no colon, or more than one, is refused", () => {
    expect(parseBasicAuthorization(basic(`alice${KEY}`))).toMatchObject({ failure: "colon" });
    expect(parseBasicAuthorization(basic(`alice:${KEY}:extra`))).toMatchObject({ failure: "colon" });
    expect(parseBasicAuthorization(basic(`alice::${KEY}`))).toMatchObject({ failure: "colon" });
    expect(parseBasicAuthorization(basic(""))).toMatchObject({ ok: false });
  });

  test("an empty user, a user that is no user name, or an empty key is refused", () => {
    expect(parseBasicAuthorization(basic(`:${KEY}`))).toMatchObject({ failure: "empty-user" });
    expect(parseBasicAuthorization(basic("alice:"))).toMatchObject({ failure: "empty-key" });
    for (const user of ["-alice", ".alice", "a".repeat(65), "al/ice", "al%ice"]) {
      expect(parseBasicAuthorization(basic(`${user}:${KEY}`))).toMatchObject({ failure: "user" });
    }
  });

  test("spaces, control characters and non-ASCII bytes in the credentials are refused", () => {
    const bytes = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
    for (
      const text of [`alice :${KEY}`, `alice:${KEY} `, `al\u0000ice:${KEY}`, `alice:${KEY}\n`, `\u00e9:x`]
    ) {
      expect(parseBasicAuthorization(`Basic ${bytes(text)}`)).toMatchObject({ failure: "characters" });
    }
  });

  test("reasons are fixed text: never the user or the key", () => {
    const results = [
      parseBasicAuthorization(basic(`alice${KEY}`)),
      parseBasicAuthorization(basic(`-mallory:${KEY}`)),
      parseBasicAuthorization(`Bearer ${KEY}`),
    ];
    for (const r of results) {
      expect(r.ok).toBe(false);
      const text = JSON.stringify(r);
      expect(text).not.toContain(KEY.slice(4, 30));
      expect(text).not.toContain("mallory");
    }
  });
});
