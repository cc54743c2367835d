/**
 * Run as its own process by syslog.e2e.test.ts (Bun, or Deno): ships real audit events to a syslog
 * collector with the shipping code `agent serve --audit-syslog` uses. The events are built as the plugin
 * builds them (plugin requests parsed by buildFacts, auditEventFor), then the shipping is stopped (flushed).
 * The main tests run real `agent serve` processes; this driver covers what serve cannot be made to do in a
 * test: a small queue (--max-queued, to see the dropped-count notice) and the shipping under Deno (whose
 * scripts/run-deno permission set has no TCP).
 *
 * Usage: syslog-driver.ts --url URL --node NAME [--ca FILE] [--cert FILE --key FILE] [--count N]
 *        [--interval-ms MS] [--stop-timeout-ms MS] [--max-queued N]
 * Prints one JSON line per event written ({"decisionId","user","allow"}), then `done`; problems go to
 * stderr as `agent: audit: MESSAGE`, as serve logs them.
 */
// decide.ts reaches @peculiar/x509, which needs the polyfill first (as src/main.ts does).
import "reflect-metadata";
import { auditEventFor } from "../../src/audit/event.ts";
import { checkSyslogOptions } from "../../src/audit/syslog-options.ts";
import { openSyslogShipping } from "../../src/audit/syslog-sink.ts";
import { buildFacts, type Decision, isDecision, refuse } from "../../src/decide/decide.ts";
import type { Platform } from "../../src/ports.ts";
import { nodeFileSystem } from "../../src/runtime/node-file-system.ts";

const args = typeof Deno !== "undefined" ? Deno.args : process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

const platform: Platform = typeof Bun !== "undefined"
  ? (await import("../../src/runtime/bun-platform.ts")).bunPlatform
  : (await import("../../src/runtime/deno-platform.ts")).denoPlatform;

const plan = await checkSyslogOptions(nodeFileSystem, {
  auditSyslog: option("url"),
  auditSyslogCa: option("ca"),
  auditSyslogCert: option("cert"),
  auditSyslogKey: option("key"),
  auditSyslogFacility: option("facility"),
});
if (plan === undefined) throw new Error("--url is required");
const shipping = openSyslogShipping(platform, plan, {
  hostname: option("node") ?? "-",
  onError: (message) => console.error(`agent: audit: ${message}`),
  stopTimeoutMs: Number(option("stop-timeout-ms") ?? 5_000),
  ...(option("max-queued") === undefined ? {} : { maxQueued: Number(option("max-queued")) }),
});

/** What dockerd sends: an allowed read, a denied create with hostile text, a malformed call, a failure. */
const REQUESTS = [
  { User: "alice", UserAuthNMethod: "TLS", RequestMethod: "GET", RequestUri: "/v1.43/containers/json" },
  {
    User: 'zo\u00eb "quoted" ] \\ [x@1 allowed="true"]',
    UserAuthNMethod: "TLS",
    RequestMethod: "POST",
    RequestUri: '/v1.43/containers/create?name=evil"]%0A\u2028&password=hunter2',
  },
  "this is not a plugin request",
  { User: "bob", UserAuthNMethod: "TLS", RequestMethod: "DELETE", RequestUri: "/v1.43/volumes/data" },
];

function decisionFor(i: number): Decision {
  const request = REQUESTS[i % REQUESTS.length]!;
  const facts = buildFacts(typeof request === "string" ? request : JSON.stringify(request), "request");
  if (isDecision(facts)) return facts;
  const understood = { request: facts.request, facts };
  if (i % REQUESTS.length === 0) {
    return {
      allow: true,
      decidedBy: "all-gates",
      ruleId: "readers",
      reason: "allowed",
      code: undefined,
      ...understood,
    };
  }
  if (i % REQUESTS.length === 1) {
    return {
      allow: false,
      decidedBy: "policy",
      ruleId: undefined,
      reason: "no rule",
      code: undefined,
      ...understood,
    };
  }
  return refuse("internal error in the authorization plugin", "ERR_INTERNAL", facts.request, facts);
}

const count = Number(option("count") ?? 8);
const intervalMs = Number(option("interval-ms") ?? 0);
for (let i = 0; i < count; i++) {
  const decision = decisionFor(i);
  const decisionId = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  const event = auditEventFor(decision, {
    time: new Date(),
    decisionId,
    phase: "request",
    policyHash: "e2e",
    durationMs: 0.05,
  });
  shipping.write(event);
  console.log(JSON.stringify({ decisionId, user: event.user, allow: event.allow }));
  if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
await shipping.stop();
console.log("done");
