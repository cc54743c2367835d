/**
 * Structure-aware fuzzing of the plugin surface, in-process: real AuthZReq/AuthZRes payloads captured from
 * dockerd (tests/vectors/wire/captured.json, made by scripts/capture-wire.ts) are mutated (wrong types,
 * huge strings, deep nesting, invalid base64 and UTF-8 bodies, missing and duplicated keys, non-JSON, random
 * bytes, truncation, field-name case, unicode escapes, percent-encoding, header oddities, byte flips) and sent
 * through createPluginApp with a real policy that allows the captured users everything. Every answer must
 * be HTTP 200 JSON with a boolean Allow, and a mutation that breaks the wire format is never allowed.
 * Reproduce a failure with FUZZ_SEED=<seed>; scripts/soak-fuzz.ts runs the same for minutes.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkAnswer, fuzzApp, runWireFuzz } from "./fuzz-driver.ts";
import { loadCapturedCases } from "./wire-mutations.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const { source, cases } = loadCapturedCases(ROOT);
const SEED = Number(process.env["FUZZ_SEED"] ?? "20261123");
const QUICK_COUNT = 20_000;

describe("captured dockerd payloads", () => {
  test("the capture names its source and covers both endpoints, unix and TLS users, and JSON bodies", () => {
    expect(source).toStartWith("dockerd 20.10");
    expect(cases.some((c) => c.endpoint === "AuthZPlugin.AuthZReq")).toBe(true);
    expect(cases.some((c) => c.endpoint === "AuthZPlugin.AuthZRes")).toBe(true);
    expect(cases.some((c) => c.body["User"] === "alice")).toBe(true);
    expect(cases.some((c) => c.body["User"] === undefined)).toBe(true);
    expect(cases.some((c) => typeof c.body["RequestBody"] === "string")).toBe(true);
  });

  test("every untouched captured payload is allowed under the allow-the-captured-users policy", async () => {
    const app = fuzzApp();
    const refused: string[] = [];
    for (const c of cases) {
      const r = await checkAnswer(app, {
        kind: "untouched",
        endpoint: c.endpoint,
        payload: JSON.stringify(c.body),
        mustDeny: false,
      });
      if (r.problem !== undefined || !r.allow) refused.push(`${c.id}: ${r.problem ?? "denied"}`);
    }
    expect(refused).toEqual([]);
  });
});

describe("plugin fuzz", () => {
  test(
    `${QUICK_COUNT} seeded mutations: always valid JSON with a boolean Allow, malformed never allowed`,
    async () => {
      const report = await runWireFuzz(cases, SEED, QUICK_COUNT, performance.now() + 60_000);
      console.log(
        `plugin fuzz: seed ${SEED}, ${report.count} mutations in ${report.seconds.toFixed(1)} s ` +
          `(${
            Math.round(report.count / report.seconds)
          }/s), ${report.allowed} allowed, ${report.denied} denied, ` +
          `slowest ${report.slowestMs.toFixed(1)} ms (${report.slowestKind})`,
      );
      expect(report.failures).toEqual([]);
      expect(report.count).toBe(QUICK_COUNT);
    },
    90_000,
  );

  test(
    "5000 seeded mutations of captured writes under a read-only policy: none becomes allowed",
    async () => {
      // Rewriting the method on purpose (a duplicated RequestMethod key: DELETE /volumes/x -> GET) is a real read.
      const writes = cases.filter((c) =>
        c.endpoint === "AuthZPlugin.AuthZReq" && c.body["RequestMethod"] !== "GET" &&
        c.body["RequestMethod"] !== "HEAD"
      );
      const report = await runWireFuzz(writes, SEED + 1, 5_000, performance.now() + 60_000, "read-only");
      const allowedKinds = [...report.byKind].filter(([k, v]) =>
        v.allowed > 0 && k !== "duplicate key RequestMethod"
      );
      console.log(
        `plugin fuzz (read-only): ${report.count} mutations of ${writes.length} captured writes, ` +
          `${report.allowed} allowed (${
            JSON.stringify(report.byKind.get("duplicate key RequestMethod"))
          } by method rewrite)`,
      );
      expect(report.failures).toEqual([]);
      expect(allowedKinds).toEqual([]);
    },
    90_000,
  );
});
