/**
 * The audit log shipped to a real rsyslogd (RFC 5424, octet-counted, over TCP and TLS with the agent's own
 * CA): two nodes' events each arrive once with their HOSTNAME, rsyslog parses the structured data and MSG
 * is the event's JSON; a collector that comes up late still gets what was queued; one killed mid-way does
 * not take the sender down. The events come from tests/e2e/syslog-driver.ts, run as separate processes, one
 * per node (until `agent serve --audit-syslog` is wired: the assertions are in syslog-harness.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { agentCli, ROOT, tempDir } from "./harness.ts";
import {
  expectShippedOnce,
  readSyslogRecords,
  type Rsyslog,
  type RsyslogTls,
  startRsyslog,
  syslogSkipBanner,
  syslogUnavailable,
  waitForRecords,
} from "./syslog-harness.ts";

const unavailable = syslogUnavailable();
const ci = process.env["CI"] === "true";
if (unavailable !== undefined && !ci) syslogSkipBanner("syslog.e2e.test.ts", unavailable);

const BUN = join(ROOT, "node_modules", ".bin", "bun");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const DRIVER = join(ROOT, "tests", "e2e", "syslog-driver.ts");

interface DriverRun {
  readonly pid: number;
  readonly done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** One node's agent shipping `count` events; resolves with its exit code and output. */
function driver(node: string, url: string, extra: string[] = [], command = [BUN, DRIVER]): DriverRun {
  const proc = Bun.spawn([...command, "--url", url, "--node", node, ...extra], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 90_000);
  const done = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    .then(([stdout, stderr, code]) => {
      clearTimeout(timer);
      return { code, stdout, stderr };
    });
  return { pid: proc.pid, done };
}

/** The decision ids a driver printed, in order. */
function written(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    (JSON.parse(l) as { decisionId: string }).decisionId
  );
}

async function expectClean(run: DriverRun): Promise<string[]> {
  const r = await run.done;
  expect(`exit ${r.code}: ${r.stderr}`).toBe("exit 0: ");
  expect(r.stdout.trimEnd().endsWith("done")).toBe(true);
  return written(r.stdout);
}

describe.skipIf(unavailable !== undefined && !ci)("audit events shipped to rsyslog", () => {
  let dir: string;
  let tls: RsyslogTls;
  let nodeCert: { cert: string; key: string };
  let rsyslog: Rsyslog | undefined;

  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`CI must run the syslog e2e tests, but ${unavailable}`);
    dir = tempDir("syslog");
    const state = join(dir, "state");
    const certs = join(dir, "certs");
    for (
      const args of [
        ["ca", "init", "--name", "syslog-e2e"],
        ["ca", "create-server-certificate", "localhost", "--out", certs],
        ["ca", "create-node-certificate", "hosta", "--out", certs],
      ]
    ) {
      const r = await agentCli([...args, "--state-dir", state]);
      if (r.code !== 0) throw new Error(`agent ${args.join(" ")} failed: ${r.stderr}`);
    }
    tls = {
      caFile: join(state, "ca", "cluster.crt"),
      certFile: join(certs, "localhost.crt"),
      keyFile: join(certs, "localhost.key"),
    };
    nodeCert = { cert: join(certs, "hosta.crt"), key: join(certs, "hosta.key") };
  });

  afterAll(async () => {
    await rsyslog?.stop("SIGKILL");
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh collector per test: its own ports and files. */
  async function collector(started = true): Promise<Rsyslog> {
    await rsyslog?.stop();
    const sub = join(dir, `rsyslog-${Math.random().toString(36).slice(2, 8)}`);
    rsyslog = await startRsyslog({ dir: sub, tls, started });
    return rsyslog;
  }

  test("two nodes over TCP: each event once, with its node's HOSTNAME, rsyslog's parse agreeing", async () => {
    const r = await collector();
    const url = `tcp://127.0.0.1:${r.tcpPort}`;
    const [a, b] = [driver("hosta", url, ["--count", "8"]), driver("hostb", url, ["--count", "8"])];
    const [idsA, idsB] = [await expectClean(a), await expectClean(b)];
    expect(idsA).toHaveLength(8);
    const records = await waitForRecords(r.tcpLog, 16);
    const events = expectShippedOnce(records, { hosta: idsA, hostb: idsB }, { exact: true });
    // The hostile user name (quotes, ], backslash, non-ASCII) survives rsyslog's SD parser and the JSON.
    const hostile = records.find((x) => x.sd["agent@32473"]?.["user"]?.startsWith("zo\u00eb"));
    expect(hostile?.sd["agent@32473"]?.["user"]).toBe('zo\u00eb "quoted" ] \\ [x@1 allowed="true"]');
    expect(events.get(idsA[1]!)?.["uri"]).toContain("password=REDACTED");
    expect(records.map((x) => `${x.facility}.${x.severity}`).slice(0, 4).sort()).toEqual(
      ["authpriv.err", "authpriv.info", "authpriv.warning", "authpriv.warning"],
    );
    expect(new Set(records.map((x) => x.procid)).size).toBe(2);
  });

  test("two nodes over TLS, verified against the agent's CA; a client certificate where it is required", async () => {
    const r = await collector();
    const url = `tls://localhost:${r.tlsPort}`;
    const ca = ["--ca", tls.caFile, "--count", "6"];
    const [a, b] = [driver("hosta", url, ca), driver("hostb", url, [...ca, "--facility", "local4"])];
    const [idsA, idsB] = [await expectClean(a), await expectClean(b)];
    const records = await waitForRecords(r.tlsLog, 12);
    expectShippedOnce(records, { hosta: idsA, hostb: idsB }, { exact: true });
    expect(records.filter((x) => x.hostname === "hostb").every((x) => x.facility === "local4")).toBe(true);

    const mtls = `tls://127.0.0.1:${r.mtlsPort}`;
    const withCert = await expectClean(
      driver("hosta", mtls, [
        "--ca",
        tls.caFile,
        "--cert",
        nodeCert.cert,
        "--key",
        nodeCert.key,
        "--count",
        "3",
      ]),
    );
    expectShippedOnce(await waitForRecords(r.mtlsLog, 3), { hosta: withCert }, { exact: true });
    // Without one, rsyslog refuses the session: nothing of it arrives, and the sender just goes on.
    const without = driver("hostb", mtls, ["--ca", tls.caFile, "--count", "3", "--stop-timeout-ms", "1000"]);
    const r2 = await without.done;
    expect(r2.code).toBe(0);
    await Bun.sleep(300);
    expect(readSyslogRecords(r.mtlsLog).filter((x) => x.hostname === "hostb")).toEqual([]);
    // The wrong trust: the collector's certificate is not verified, nothing is sent.
    const wrong = await driver("hostb", url, [
      "--ca",
      nodeCert.cert,
      "--count",
      "2",
      "--stop-timeout-ms",
      "500",
    ])
      .done;
    expect(wrong.code).toBe(0);
    expect(wrong.stderr).toMatch(/agent: audit: syslog collector tls:\/\/localhost:\d+ unreachable: /);
    expect(wrong.stderr).toContain("2 audit messages were not delivered");
  });

  test("the collector down at first: events queue, and arrive once it is started", async () => {
    const r = await collector(false);
    const run = driver("hosta", `tcp://127.0.0.1:${r.tcpPort}`, [
      "--count",
      "5",
      "--stop-timeout-ms",
      "30000",
    ]);
    await Bun.sleep(1_500);
    await r.start();
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/syslog collector tcp:\/\/127\.0\.0\.1:\d+ unreachable: .*retrying/);
    expect(result.stderr).toContain("is reachable again");
    expect(result.stderr).not.toContain("not delivered");
    const ids = written(result.stdout);
    expectShippedOnce(await waitForRecords(r.tcpLog, 5), { hosta: ids }, { exact: true });
  });

  test("the collector killed mid-way: the sender does not crash, reconnects when it is back", async () => {
    const r = await collector();
    const run = driver("hosta", `tcp://127.0.0.1:${r.tcpPort}`, [
      "--count",
      "60",
      "--interval-ms",
      "50",
      "--stop-timeout-ms",
      "10000",
    ]);
    const before = await waitForRecords(r.tcpLog, 5);
    await r.stop("SIGKILL");
    await Bun.sleep(500);
    await r.start();
    const result = await run.done;
    expect(`exit ${result.code}`).toBe("exit 0");
    expect(result.stdout.trimEnd().endsWith("done")).toBe(true);
    expect(result.stderr).toMatch(/syslog collector tcp:\/\/127\.0\.0\.1:\d+ (lost|unreachable): /);
    const ids = written(result.stdout);
    expect(ids).toHaveLength(60);
    await waitFor(() => readSyslogRecords(r.tcpLog).some((x) => x.msg.includes(ids.at(-1)!)));
    const records = readSyslogRecords(r.tcpLog);
    // What arrived arrived once and from hosta; the first ones and the last (sent after the restart) did.
    const arrived = ids.filter((id) => records.some((x) => x.msg.includes(`"decisionId":"${id}"`)));
    expectShippedOnce(records, { hosta: arrived }, { exact: true });
    expect(arrived.slice(0, before.length)).toEqual(ids.slice(0, before.length));
    expect(arrived.at(-1)).toBe(ids.at(-1));
  });

  test("the same shipping under Deno (node:net and node:tls there): TLS to rsyslog", async () => {
    const r = await collector();
    const url = `tls://localhost:${r.tlsPort}`;
    const deno = [
      DENO,
      "run",
      "--no-prompt",
      "--cached-only",
      "--no-remote",
      "--config",
      join(ROOT, "deno.json"),
      `--allow-net=localhost:${r.tlsPort}`,
      `--allow-read=${tls.caFile}`,
      DRIVER,
    ];
    const ids = await expectClean(driver("hostdeno", url, ["--ca", tls.caFile, "--count", "4"], deno));
    expectShippedOnce(await waitForRecords(r.tlsLog, 4), { hostdeno: ids }, { exact: true });
  });
});

async function waitFor(ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(50);
  }
}
