/** API keys on the HTTPS listener: Basic credentials, one failure per bad key, 429 once an address failed too often. */
import { describe, expect, test } from "bun:test";
import { apiKeyAuthenticator } from "../../../src/api/apikey-authenticator.ts";
import {
  type ApiKeySet,
  createApiKey,
  emptyApiKeySet,
  FailedAttemptLimiter,
  LastUsedTimes,
  revokeApiKey,
} from "../../../src/apikey/index.ts";
import type { HttpsConnection } from "../../../src/ports.ts";
import { seededRandom } from "../../helpers/fixtures.ts";

const NOW = new Date("2026-06-01T12:00:00.000Z");
const clock = () => new Date(NOW.getTime());
const connection = (address = "192.0.2.7"): HttpsConnection => ({
  address,
  peerCertificatesPem: [],
  peerVerified: false,
});
const basic = (user: string, key: string) => `Basic ${btoa(`${user}:${key}`)}`;
const request = (authorization?: string) =>
  new Request("https://agent/api/infra/v1/node/", {
    headers: authorization === undefined ? {} : { authorization },
  });

function setup() {
  const random = seededRandom("apikey-authenticator");
  const created = createApiKey(emptyApiKeySet(), { user: "alice", name: "laptop" }, random, clock);
  let keys = created.set;
  const limiter = new FailedAttemptLimiter(clock, { maxFailures: 3 });
  const lastUsed = new LastUsedTimes();
  const authenticator = apiKeyAuthenticator({ keys: () => keys, clock, limiter, lastUsed });
  return {
    authenticator,
    key: created.key,
    record: created.record,
    lastUsed,
    keys: () => keys,
    setKeys: (next: ApiKeySet) => (keys = next),
  };
}

describe("the API key authenticator", () => {
  test("a valid key names its owner and records the use in memory", async () => {
    const s = setup();
    const answer = await s.authenticator.authenticate(request(basic("alice", s.key)), connection());
    expect(answer).toEqual({
      kind: "principal",
      principal: { user: "alice", groups: [], authMethod: "apikey", keyId: s.keys()!.keys[0]!.id },
    });
    expect(s.lastUsed.get(s.record.id)).toBe(NOW.toISOString());
  });

  test("no Authorization header, or another scheme, is not its business", async () => {
    const s = setup();
    expect(await s.authenticator.authenticate(request(), connection())).toEqual({ kind: "none" });
    expect(await s.authenticator.authenticate(request("Bearer abc"), connection())).toEqual({ kind: "none" });
  });

  test("a wrong user, a revoked key and garbage are 401s whose reasons never hold the key", async () => {
    const s = setup();
    const cases = [
      basic("bob", s.key),
      basic("alice", s.key.slice(0, -1) + (s.key.endsWith("A") ? "B" : "A")),
      "Basic !!!",
      basic("alice", "not-a-key"),
    ];
    for (const header of cases) {
      const answer = await s.authenticator.authenticate(
        request(header),
        connection(`198.51.100.${cases.indexOf(header)}`),
      );
      expect(answer.kind).toBe("failure");
      if (answer.kind === "failure") {
        expect(answer.status).toBe(401);
        expect(answer.reason).not.toContain(s.key);
        expect(answer.reason).not.toContain(s.key.slice(4, 20));
      }
    }
    s.setKeys(revokeApiKey(s.keys(), s.record.id, clock).set);
    const answer = await s.authenticator.authenticate(
      request(basic("alice", s.key)),
      connection("203.0.113.9"),
    );
    expect(answer).toMatchObject({
      kind: "failure",
      status: 401,
      reason: "API key refused: the API key is revoked",
    });
  });

  test("an address that failed too often gets 429 before its credentials are looked at, even a good key", async () => {
    const s = setup();
    for (let i = 0; i < 3; i++) {
      expect(await s.authenticator.authenticate(request(basic("alice", "agt_wrong")), connection()))
        .toMatchObject({
          kind: "failure",
          status: 401,
        });
    }
    const limited = await s.authenticator.authenticate(request(basic("alice", s.key)), connection());
    expect(limited).toMatchObject({ kind: "failure", status: 429 });
    if (limited.kind === "failure") expect(limited.retryAfterSeconds).toBeGreaterThan(0);
    // Another address is not held back.
    expect((await s.authenticator.authenticate(request(basic("alice", s.key)), connection("192.0.2.8"))).kind)
      .toBe(
        "principal",
      );
  });
});
