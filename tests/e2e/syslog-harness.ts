/**
 * A private rsyslogd (Debian's, `rsyslogd -n -f CONF -i PIDFILE`) as the syslog collector for the audit
 * shipping e2e tests: imtcp on three loopback ports (plain TCP; TLS with the gtls driver and a server
 * certificate of the agent's own CA; TLS that also requires a client certificate of that CA), each writing
 * what it received to its own file as JSON lines (rsyslog's own parse: HOSTNAME, APP-NAME, the structured
 * data through mmpstrucdata, MSG). `expectShippedOnce` is the assertion an e2e through `agent serve
 * --audit-syslog` reuses. Processes are stopped by pid only.
 */
import { expect } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort, spawnLogged, waitFor } from "./harness.ts";

/** Why these tests cannot run here (rsyslogd or its TLS driver missing), or undefined. */
export function syslogUnavailable(): string | undefined {
  if (!Bun.which("rsyslogd")) return "rsyslogd is not installed (apt-get install -y rsyslog rsyslog-gnutls)";
  // Debian's multiarch directory (/usr/lib/x86_64-linux-gnu/rsyslog), or a plain /usr/lib/rsyslog.
  const dirs = ["/usr/lib", ...readdirSync("/usr/lib").map((d) => join("/usr/lib", d))];
  if (!dirs.some((d) => existsSync(join(d, "rsyslog", "lmnsd_gtls.so")))) {
    return "rsyslog's TLS driver is not installed (apt-get install -y rsyslog-gnutls)";
  }
  return undefined;
}

export function syslogSkipBanner(file: string, why: string): void {
  console.log(`\n###### SKIP ${file}: needs rsyslogd with gtls (${why}) ######\n`);
}

export interface RsyslogTls {
  /** The CA that signed the server certificate and the client certificates it accepts. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface Rsyslog {
  readonly tcpPort: number;
  readonly tlsPort: number;
  /** TLS, client certificate of the CA required (x509/certvalid). */
  readonly mtlsPort: number;
  readonly tcpLog: string;
  readonly tlsLog: string;
  readonly mtlsLog: string;
  /** The running rsyslogd's pid (undefined while stopped). */
  readonly pid: number | undefined;
  start(): Promise<void>;
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** rsyslogd's own stdout and stderr. */
  log(): string;
}

/** Writes the config; starts rsyslogd unless `started` is false (a collector that comes up later). */
export async function startRsyslog(
  options: { readonly dir: string; readonly tls: RsyslogTls; readonly started?: boolean },
): Promise<Rsyslog> {
  const { dir, tls } = options;
  const work = join(dir, "work");
  mkdirSync(work, { recursive: true });
  const [tcpPort, tlsPort, mtlsPort] = [freePort(), freePort(), freePort()];
  const tcpLog = join(dir, "tcp.log");
  const tlsLog = join(dir, "tls.log");
  const mtlsLog = join(dir, "mtls.log");
  const conf = join(dir, "rsyslog.conf");
  const pidFile = join(dir, "rsyslog.pid");
  const logFile = join(dir, "rsyslogd.out");
  const ruleset = (name: string, file: string) =>
    `ruleset(name="${name}") { action(type="mmpstrucdata" sd_name.lowercase="off") ` +
    `action(type="omfile" file="${file}" template="record") }`;
  writeFileSync(
    conf,
    [
      `global(workDirectory="${work}" defaultNetstreamDriverCAFile="${tls.caFile}"`,
      `  defaultNetstreamDriverCertFile="${tls.certFile}" defaultNetstreamDriverKeyFile="${tls.keyFile}")`,
      `module(load="imtcp" maxSessions="200")`,
      `module(load="mmpstrucdata")`,
      `template(name="record" type="list") {`,
      `  constant(value="{")`,
      ...[
        ["hostname", "hostname"],
        ["app-name", "app"],
        ["procid", "procid"],
        ["msgid", "msgid"],
        ["syslogfacility-text", "facility"],
        ["syslogseverity-text", "severity"],
        ["$!rfc5424-sd", "sd"],
      ].map(([name, out]) =>
        `  property(name="${name}" format="jsonf" outname="${out}") constant(value=",")`
      ),
      `  property(name="msg" format="jsonf" outname="msg")`,
      `  constant(value="}\\n")`,
      `}`,
      ruleset("plain", tcpLog),
      ruleset("secure", tlsLog),
      ruleset("mutual", mtlsLog),
      `input(type="imtcp" address="127.0.0.1" port="${tcpPort}" ruleset="plain")`,
      `input(type="imtcp" address="127.0.0.1" port="${tlsPort}" ruleset="secure"`,
      `  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`,
      `input(type="imtcp" address="127.0.0.1" port="${mtlsPort}" ruleset="mutual"`,
      `  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")`,
      "",
    ].join("\n"),
  );
  let proc: Bun.Subprocess | undefined;
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
  const rsyslog: Rsyslog = {
    tcpPort,
    tlsPort,
    mtlsPort,
    tcpLog,
    tlsLog,
    mtlsLog,
    get pid() {
      return proc?.exitCode === null ? proc.pid : undefined;
    },
    async start() {
      rmSync(pidFile, { force: true }); // left behind by a SIGKILL
      const p = spawnLogged(["rsyslogd", "-n", "-f", conf, "-i", pidFile], logFile);
      proc = p;
      await waitFor("rsyslogd's listeners", async () => {
        if (p.exitCode !== null) throw new Error(`rsyslogd exited ${p.exitCode}: ${log()}`);
        return (await listening(tcpPort)) && (await listening(mtlsPort)) && (await listening(tlsPort));
      }, 20_000);
    },
    async stop(signal = "SIGTERM") {
      const p = proc;
      if (p === undefined || p.exitCode !== null) return;
      p.kill(signal);
      await p.exited;
    },
    log,
  };
  if (options.started !== false) await rsyslog.start();
  return rsyslog;
}

export interface SyslogRecord {
  readonly hostname: string;
  readonly app: string;
  readonly procid: string;
  readonly msgid: string;
  readonly facility: string;
  readonly severity: string;
  /** rsyslog's parse of the structured data: SD-ID to its params, escapes undone. */
  readonly sd: Record<string, Record<string, string>>;
  readonly msg: string;
}

/** What rsyslog wrote to one of its files, one record per message received. */
export function readSyslogRecords(file: string): SyslogRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter((line) => line.length > 0).map((line) => {
    const raw = JSON.parse(line) as Record<string, string>;
    return { ...raw, sd: raw["sd"] === "" ? {} : JSON.parse(raw["sd"]!) } as SyslogRecord;
  });
}

/** Waits until `file` holds at least `count` records. */
export async function waitForRecords(
  file: string,
  count: number,
  timeoutMs = 20_000,
): Promise<SyslogRecord[]> {
  let records: SyslogRecord[] = [];
  await waitFor(`${count} records in ${file}`, () => {
    records = readSyslogRecords(file);
    return Promise.resolve(records.length >= count);
  }, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message} (have ${records.length})`);
  });
  return records;
}

/**
 * Every decision id of `expected` (node name to the ids its agent decided) arrived exactly once, from that
 * node, as APP-NAME agent with MSGID decision, its MSG the audit event as JSON and the structured data
 * agreeing with it. `exact`: no other decision arrived either. Returns the events by decision id.
 */
export function expectShippedOnce(
  records: readonly SyslogRecord[],
  expected: Readonly<Record<string, readonly string[]>>,
  options: { readonly exact?: boolean } = {},
): Map<string, Record<string, unknown>> {
  const byId = new Map<string, { record: SyslogRecord; event: Record<string, unknown> }[]>();
  for (const record of records) {
    expect(record.app).toBe("agent");
    if (record.msgid !== "decision") continue;
    const event = JSON.parse(record.msg) as Record<string, unknown>;
    const id = String(event["decisionId"]);
    const sd = record.sd["agent@32473"];
    expect(sd?.["decision"]).toBe(id);
    expect(sd?.["allowed"]).toBe(String(event["allow"]));
    if (event["user"] !== null && event["truncated"] !== true) {
      expect(sd?.["user"]).toBe(event["user"] as string);
    }
    byId.set(id, [...(byId.get(id) ?? []), { record, event }]);
  }
  const events = new Map<string, Record<string, unknown>>();
  for (const [node, ids] of Object.entries(expected)) {
    for (const id of ids) {
      const got = byId.get(id) ?? [];
      expect(`${id}: ${got.length} times`).toBe(`${id}: 1 times`);
      expect(`${id} from ${got[0]!.record.hostname}`).toBe(`${id} from ${node}`);
      events.set(id, got[0]!.event);
    }
  }
  if (options.exact === true) {
    const want = new Set(Object.values(expected).flat());
    expect([...byId.keys()].filter((id) => !want.has(id))).toEqual([]);
  }
  return events;
}
