/**
 * The HTTPS API app with no server: app.request with a fake connection (address, client certificate, TLS
 * verdict) and a fake dockerd. Credentials first (401), then JSON-only, routing (404/405), the decision
 * core (403) and the node resource; every request is one audit event with door "api".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { nodeUuid } from "../../../src/api/index.ts";
import { DECISION_PROOF_HEADER } from "../../../src/decide/decision-proof.ts";
import { macaroonGateFor } from "../../../src/decide/macaroon-gate.ts";
import { AgentError } from "../../../src/errors.ts";
import {
  dockerCaveat,
  emptyRevocations,
  initKeyring,
  type Keyring,
  mintToken,
} from "../../../src/macaroon/index.ts";
import { seededRandom } from "../../helpers/fixtures.ts";
import { fixedClock, removeTempDirs } from "../ca/helpers.ts";
import { apiHarness, type CaFixture, caFixture, INFO, withCertificate } from "./helpers.ts";

let ca: CaFixture;
beforeAll(async () => {
  ca = await caFixture();
});
afterAll(removeTempDirs);

const LIST = "/api/infra/v1/node/";
const UUID = nodeUuid(INFO.ID);

async function body(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get("content-type")).toBe("application/json");
  return (await res.json()) as Record<string, unknown>;
}

describe("HTTPS API: credentials come first", () => {
  test("401 without credentials, before routing, and audited with the client address", async () => {
    const api = apiHarness(ca.gates());
    for (const path of [LIST, "/api/nothing/", "/"]) {
      const res = await api.request(path);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="agent", charset="UTF-8"');
      expect(await body(res)).toEqual({
        error: expect.stringMatching(
          /^authentication required \(a valid client certificate or API key\) \(decision [0-9a-f]{12}\)$/,
        ),
      });
    }
    expect(api.dockerCalls).toEqual([]);
    expect(api.events).toHaveLength(3);
    expect(api.events[0]).toMatchObject({
      door: "api",
      clientAddress: "192.0.2.10",
      phase: "request",
      user: null,
      method: "GET",
      uri: LIST,
      allow: false,
      decidedBy: "authentication",
      code: "ERR_API_UNAUTHENTICATED",
      reason:
        "no credentials: the API needs an API key (Authorization: Basic) or a client certificate of this agent's CA",
      status: 401,
      policyHash: "policy-hash",
    });
  });

  test("401 for a revoked certificate, naming the revocation only in the audit log", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(LIST, {}, withCertificate(ca.pems.bob));
    expect(res.status).toBe(401);
    const text = JSON.stringify(await body(res));
    expect(text).not.toContain("revoked");
    expect(api.events[0]).toMatchObject({
      decidedBy: "authentication",
      ruleId: "authentication:certificate",
      reason: expect.stringMatching(/^certificate [0-9a-f]+ for bob was revoked$/),
      status: 401,
    });
    expect(api.dockerCalls).toEqual([]);
  });

  test("401 for a certificate of another CA, even one for the same user name", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(LIST, {}, withCertificate(ca.foreignAlice, false));
    expect(res.status).toBe(401);
    expect(api.events[0]!.reason).toMatch(/^certificate [0-9a-f]+ for alice is from another CA$/);
  });

  test("401 for a certificate naming this CA that TLS did not verify (a forgery copies names, not signatures)", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(LIST, {}, withCertificate(ca.pems.alice, false));
    expect(res.status).toBe(401);
    expect(api.events[0]!.reason).toContain("does not verify against this agent's CA");
  });

  test("401 for a malformed certificate and for a certificate when the agent has no CA", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(
      LIST,
      {},
      withCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    );
    expect(res.status).toBe(401);
    expect(api.events[0]!.reason).toBe("malformed client certificate");
    const noCa = apiHarness((ca.gates()).filter((g) => g.name !== "certificate"));
    expect((await noCa.request(LIST, {}, withCertificate(ca.pems.alice))).status).toBe(401);
    expect(noCa.events[0]!.reason).toBe(
      "a client certificate was presented but this agent has no CA to check it against",
    );
  });
});

describe("HTTPS API: the node resource", () => {
  test("200: a valid CA certificate whose OU the policy allows system:info lists this host", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(LIST, {}, withCertificate(ca.pems.alice));
    expect(res.status).toBe(200);
    expect(await body(res)).toEqual({
      meta: { limit: 25, offset: 0, next: null, previous: null, total_count: 1 },
      objects: [{
        uuid: UUID,
        resource_uri: `/api/infra/v1/node/${UUID}/`,
        name: "host-1",
        nickname: "host-1",
        state: "Deployed",
        docker_version: "20.10.24+dfsg1",
        docker_graphdriver: "vfs",
        cpu: 4,
        memory: 8192,
        current_num_containers: 5,
        running_num_containers: 2,
        paused_num_containers: 1,
        stopped_num_containers: 2,
      }],
    });
    expect(api.events).toHaveLength(1);
    expect(api.events[0]).toMatchObject({
      door: "api",
      clientAddress: "192.0.2.10",
      user: "alice",
      authMethod: "TLS",
      method: "GET",
      uri: LIST,
      action: "system:info",
      allow: true,
      decidedBy: "all-gates",
      ruleId: "ops-info",
      status: 200,
    });
  });

  test("the API's own call to dockerd is GET /info with a one-time proof of this decision, withdrawn after", async () => {
    const api = apiHarness(ca.gates());
    await api.request(LIST, {}, withCertificate(ca.pems.alice));
    expect(api.dockerCalls).toHaveLength(1);
    expect(api.dockerCalls[0]!.path).toBe("/info");
    const proof = api.dockerCalls[0]!.headers[DECISION_PROOF_HEADER]!;
    expect(proof).toMatch(new RegExp(`^${api.events[0]!.decisionId}\\.[0-9a-f]{32}$`));
    expect(api.proofs.pending).toBe(0);
  });

  test("a node by uuid, and 404 for another uuid or something that is not one", async () => {
    const api = apiHarness(ca.gates());
    const alice = withCertificate(ca.pems.alice);
    const one = await api.request(`${LIST}${UUID}/`, {}, alice);
    expect(one.status).toBe(200);
    expect(await body(one)).toMatchObject({ uuid: UUID, resource_uri: `/api/infra/v1/node/${UUID}/` });
    const other = await api.request(`${LIST}00000000-0000-4000-8000-000000000000/`, {}, alice);
    expect(other.status).toBe(404);
    expect(await body(other)).toEqual({
      error: expect.stringMatching(/^not found \(decision [0-9a-f]{12}\)$/),
    });
    expect((await api.request(`${LIST}host-1/`, {}, alice)).status).toBe(404);
  });

  test("a daemon ID that is a UUID already is the node's uuid", () => {
    expect(nodeUuid("5E9C1A0D-2B3F-4C5D-8E6F-7A8B9C0D1E2F")).toBe("5e9c1a0d-2b3f-4c5d-8e6f-7a8b9c0d1e2f");
    expect(UUID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(nodeUuid(INFO.ID)).toBe(UUID);
  });

  test("the caller's own namespace and its groups are addressable; another namespace is 404", async () => {
    const api = apiHarness(ca.gates());
    const alice = withCertificate(ca.pems.alice);
    const own = await api.request("/api/infra/v1/alice/node/", {}, alice);
    expect(own.status).toBe(200);
    expect(((await body(own)).objects as { resource_uri: string }[])[0]!.resource_uri).toBe(
      `/api/infra/v1/alice/node/${UUID}/`,
    );
    expect((await api.request(`/api/infra/v1/ops/node/${UUID}/`, {}, alice)).status).toBe(200);
    const other = await api.request("/api/infra/v1/bob/node/", {}, alice);
    expect(other.status).toBe(404);
    expect(api.events.at(-1)).toMatchObject({ status: 404, code: "ERR_API_NOT_FOUND", allow: false });
    expect(api.dockerCalls).toHaveLength(2);
  });

  test("403 {error} with the policy's reason when the policy denies, and dockerd is never called", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(LIST, {}, withCertificate(ca.pems.carol));
    expect(res.status).toBe(403);
    expect(await body(res)).toEqual({
      error: expect.stringMatching(/^no rule allows system:info for carol \(decision [0-9a-f]{12}\)$/),
    });
    expect(api.events[0]).toMatchObject({
      user: "carol",
      action: "system:info",
      allow: false,
      decidedBy: "policy",
      status: 403,
    });
    expect(api.dockerCalls).toEqual([]);
  });

  test("policy groups apply on the API as on the plugin (dave is in group readers)", async () => {
    const api = apiHarness(ca.gates());
    expect((await api.request(LIST, {}, withCertificate(ca.pems.dave))).status).toBe(200);
  });

  test("limit and offset page the list; bad values are 400", async () => {
    const api = apiHarness(ca.gates());
    const alice = withCertificate(ca.pems.alice);
    const paged = await body(await api.request(`${LIST}?limit=1&offset=1`, {}, alice));
    expect(paged).toEqual({
      meta: { limit: 1, offset: 1, next: null, previous: `${LIST}?limit=1&offset=0`, total_count: 1 },
      objects: [],
    });
    for (const query of ["limit=0", "limit=101", "offset=-1", "limit=abc", "limit=1&limit=2"]) {
      const res = await api.request(`${LIST}?${query}`, {}, alice);
      expect(res.status).toBe(400);
      expect((await body(res)).error).toMatch(/must be a whole number/);
    }
  });

  test("filters by uuid, state and docker_version", async () => {
    const api = apiHarness(ca.gates());
    const alice = withCertificate(ca.pems.alice);
    const count = async (query: string) =>
      ((await body(await api.request(`${LIST}?${query}`, {}, alice))).meta as { total_count: number })
        .total_count;
    expect(await count(`uuid=${UUID}`)).toBe(1);
    expect(await count("state=Deployed")).toBe(1);
    expect(await count("state=Terminated")).toBe(0);
    expect(await count("docker_version=1.5.0")).toBe(0);
  });

  test("HEAD answers like GET without a body", async () => {
    const api = apiHarness(ca.gates());
    const res = await api.request(LIST, { method: "HEAD" }, withCertificate(ca.pems.alice));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  test("502 when dockerd does not answer, 502 when its answer is not a node; the decision stays allowed", async () => {
    const api = apiHarness(ca.gates());
    api.info = new AgentError(
      "ERR_DOCKER_UNREACHABLE",
      "cannot reach the Docker daemon at /var/run/docker.sock",
    );
    const down = await api.request(LIST, {}, withCertificate(ca.pems.alice));
    expect(down.status).toBe(502);
    expect((await body(down)).error).toMatch(/^the Docker daemon did not answer \(decision/);
    expect(api.events[0]).toMatchObject({ allow: true, status: 502, code: "ERR_DOCKER_UNREACHABLE" });
    api.info = { Name: "no id" };
    expect((await api.request(LIST, {}, withCertificate(ca.pems.alice))).status).toBe(502);
    expect(api.proofs.pending).toBe(0);
  });
});

describe("HTTPS API: wire format", () => {
  test("404 {error} for unknown paths once authenticated, including a missing trailing slash", async () => {
    const api = apiHarness(ca.gates());
    for (const path of ["/api/app/v1/nothing/", "/api/app/v1/service", "/api/infra/v1/node", "/nothing"]) {
      const res = await api.request(path, {}, withCertificate(ca.pems.alice));
      expect(res.status).toBe(404);
      expect(await body(res)).toEqual({
        error: expect.stringMatching(/^not found \(decision [0-9a-f]{12}\)$/),
      });
    }
    expect(api.events.map((e) => e.code)).toEqual([
      "ERR_API_NOT_FOUND",
      "ERR_API_NOT_FOUND",
      "ERR_API_NOT_FOUND",
      "ERR_API_NOT_FOUND",
    ]);
  });

  test("405 {error} with Allow for another method on a known path", async () => {
    const api = apiHarness(ca.gates());
    for (const method of ["POST", "DELETE", "PATCH", "PUT"]) {
      const res = await api.request(`${LIST}${UUID}/`, { method }, withCertificate(ca.pems.alice));
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
      expect(await body(res)).toEqual({ error: expect.stringMatching(/^method not allowed \(decision /) });
    }
    expect(api.events[0]).toMatchObject({ method: "POST", status: 405, code: "ERR_API_METHOD" });
    expect(api.dockerCalls).toEqual([]);
  });

  test("406 for a client that accepts no JSON (after authentication); JSON, */* and application/* are fine", async () => {
    const api = apiHarness(ca.gates());
    const alice = withCertificate(ca.pems.alice);
    for (const accept of ["text/html", "application/xml, text/plain", "application/json;q=0"]) {
      const res = await api.request(LIST, { headers: { accept } }, alice);
      expect({ accept, status: res.status }).toEqual({ accept, status: 406 });
      expect((await body(res)).error).toMatch(/^the API answers in JSON only/);
    }
    for (const accept of ["application/json", "*/*", "application/*", "text/html, */*;q=0.1", ""]) {
      const res = await api.request(LIST, { headers: { accept } }, alice);
      expect({ accept, status: res.status }).toEqual({ accept, status: 200 });
    }
    expect((await api.request(LIST, { headers: { accept: "text/html" } })).status).toBe(401);
    expect(api.dockerCalls.length).toBe(5);
  });

  test("415 for a body that is not JSON, 413 for one declared over the limit", async () => {
    const api = apiHarness(ca.gates());
    const alice = withCertificate(ca.pems.alice);
    const form = await api.request(LIST, {
      method: "POST",
      body: "a=b",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    }, alice);
    expect(form.status).toBe(415);
    expect((await body(form)).error).toMatch(/^request bodies must be JSON/);
    const big = await api.request(LIST, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json", "content-length": String(2 * 1024 * 1024) },
    }, alice);
    expect(big.status).toBe(413);
    expect((await body(big)).error).toMatch(/^request body larger than 1048576 bytes/);
  });

  test("query values that can carry secrets are redacted in the audit event", async () => {
    const api = apiHarness(ca.gates());
    await api.request(`${LIST}?token=hunter2`, {}, withCertificate(ca.pems.alice));
    expect(api.events[0]!.uri).toBe(`${LIST}?token=REDACTED`);
  });
});

describe("HTTPS API: the macaroon gate, where the ip caveat can be checked", () => {
  const random = seededRandom("api-macaroon");
  const clock = fixedClock();
  let keyring: Keyring;
  beforeAll(async () => {
    keyring = await initKeyring(undefined, random, clock);
  });
  const token = (...caveats: [string, string][]) =>
    mintToken(keyring, random, caveats.map(([n, v]) => dockerCaveat(n, v))).token;
  const withMacaroon = () => [...ca.gates(), macaroonGateFor(keyring, emptyRevocations(), clock)];

  test("an ip caveat holds for a client inside the range and fails outside it", async () => {
    const api = apiHarness(withMacaroon());
    const t = token(["ip", "192.0.2.0/24"], ["op", "read"]);
    const inside = await api.request(LIST, { headers: { "X-Macaroon": t } }, {
      ...withCertificate(ca.pems.alice),
      address: "192.0.2.10",
    });
    expect(inside.status).toBe(200);
    const outside = await api.request(LIST, { headers: { "X-Macaroon": t } }, {
      ...withCertificate(ca.pems.alice),
      address: "198.51.100.7",
    });
    expect(outside.status).toBe(403);
    expect((await body(outside)).error).toMatch(
      /^macaroon caveat "ip = 192\.0\.2\.0\/24" not satisfied: the client address "198\.51\.100\.7" is outside it/,
    );
    expect(api.events[1]).toMatchObject({
      decidedBy: "macaroon",
      ruleId: "caveat:ip",
      clientAddress: "198.51.100.7",
    });
  });

  test("the macaroon may come as Authorization: Bearer; without one the gate refuses", async () => {
    const api = apiHarness(withMacaroon());
    const alice = withCertificate(ca.pems.alice);
    const bearer = await api.request(
      LIST,
      { headers: { Authorization: `Bearer ${token(["op", "read"])}` } },
      alice,
    );
    expect(bearer.status).toBe(200);
    const none = await api.request(LIST, {}, alice);
    expect(none.status).toBe(403);
    expect(api.events[1]).toMatchObject({ decidedBy: "macaroon", ruleId: "macaroon:missing" });
  });

  test("an op = write macaroon does not read the node (system:info is a read)", async () => {
    const api = apiHarness(withMacaroon());
    const res = await api.request(
      LIST,
      { headers: { "X-Macaroon": token(["op", "write"]) } },
      withCertificate(ca.pems.alice),
    );
    expect(res.status).toBe(403);
    expect(api.events[0]!.ruleId).toBe("caveat:op");
  });
});
