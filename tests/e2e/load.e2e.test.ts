/**
 * Load, quick version (scripts/soak-load.ts is the long one, with the same helpers): 8 docker CLI clients
 * through a real dockerd with --tlsverify for about 20 s, then 50,000 mixed plugin calls at concurrency 16
 * straight to the agent's socket. No wrong decision, no error, and an audit log with exactly one line per
 * direct call, every line parsing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  cliLoad,
  directLoad,
  rssKiB,
  scanAudit,
  settleAudit,
  startLoadHost,
} from "../../scripts/soak-load.ts";
import { e2eUnavailable, type GuardedHost, skipBanner, type TlsFiles } from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("load.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const CLI_CLIENTS = 8;
const CLI_MS = 20_000;
const DIRECT_REQUESTS = 50_000;
const DIRECT_CONCURRENCY = 16;

maybe("the agent under load", () => {
  let host: GuardedHost;
  let tls: TlsFiles;
  let stateDir: string;

  beforeAll(async () => {
    ({ host, tls, stateDir } = await startLoadHost("load"));
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test(`${CLI_CLIENTS} concurrent docker CLI clients get exactly the policy's decisions`, async () => {
    const before = await settleAudit(stateDir);
    const r = await cliLoad(host.dockerd, tls, {
      clients: CLI_CLIENTS,
      durationMs: CLI_MS,
      maxCommandsPerClient: 200,
    });
    console.log(
      `load: ${r.commands} docker commands by ${CLI_CLIENTS} clients in ${(r.ms / 1000).toFixed(1)} s ` +
        `(${r.perSecond.toFixed(1)}/s), ${r.denied} denied as expected`,
    );
    expect(r.firstProblem).toBeUndefined();
    expect(r.wrong).toBe(0);
    expect(r.commands).toBeGreaterThan(CLI_CLIENTS * 5);
    expect(r.denied).toBeGreaterThan(0);
    // A docker command stops at its first refusal: one denied request event per denied command.
    const after = await settleAudit(stateDir);
    expect(after.corrupt).toBe(0);
    expect(after.denied - before.denied).toBe(r.denied);
    // Nothing the clients made is left behind (every create was followed by its remove).
    const left = await host.dockerd.docker(["ps", "-a", "-q", "--filter", "name=lc-"]);
    expect(left.stdout.trim()).toBe("");
  }, 120_000);

  test(
    `${DIRECT_REQUESTS} mixed plugin calls at concurrency ${DIRECT_CONCURRENCY}: no wrong decision`,
    async () => {
      const before = await settleAudit(stateDir);
      const rssBefore = rssKiB(host.agent.pid);
      const r = await directLoad(host.agent.socket, {
        requests: DIRECT_REQUESTS,
        concurrency: DIRECT_CONCURRENCY,
        deadlineMs: Date.now() + 90_000,
      });
      const rssAfter = rssKiB(host.agent.pid);
      console.log(
        `load: ${r.requests} AuthZReq calls in ${(r.ms / 1000).toFixed(1)} s = ${
          Math.round(r.perSecond)
        }/s ` +
          `(c=${DIRECT_CONCURRENCY}); agent RSS ${(rssBefore / 1024).toFixed(1)} -> ${
            (rssAfter / 1024).toFixed(1)
          } MiB`,
      );
      expect(r.firstProblem).toBeUndefined();
      expect(r.errors).toBe(0);
      expect(r.wrong).toBe(0);
      expect(r.requests).toBe(DIRECT_REQUESTS);
      const after = await settleAudit(stateDir);
      expect(after.corrupt).toBe(0);
      expect(after.lines - before.lines).toBe(DIRECT_REQUESTS);
      expect(scanAudit(stateDir).lines).toBe(after.lines);
    },
    150_000,
  );
});
