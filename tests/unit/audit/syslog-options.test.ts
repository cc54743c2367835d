import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkSyslogOptions,
  parseSyslogFacility,
  parseSyslogUrl,
} from "../../../src/audit/syslog-options.ts";
import { AgentError } from "../../../src/errors.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("ERR_USAGE");
    return (err as AgentError).message;
  }
  throw new Error("no error thrown");
}

async function usageErrorAsync(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("ERR_USAGE");
    return (err as AgentError).message;
  }
  throw new Error("no error thrown");
}

describe("--audit-syslog URL", () => {
  test("tcp:// and tls:// with host names, IPv4, IPv6 and default ports", () => {
    expect(parseSyslogUrl("tcp://logs.example.com:1514")).toEqual({
      transport: "tcp",
      host: "logs.example.com",
      port: 1514,
    });
    expect(parseSyslogUrl("tls://10.0.0.5")).toEqual({ transport: "tls", host: "10.0.0.5", port: 6514 });
    expect(parseSyslogUrl("tcp://[::1]:514/")).toEqual({ transport: "tcp", host: "::1", port: 514 });
    expect(parseSyslogUrl("TLS://[fd00::5]")).toEqual({ transport: "tls", host: "fd00::5", port: 6514 });
    expect(parseSyslogUrl("tcp://localhost")).toEqual({ transport: "tcp", host: "localhost", port: 514 });
  });

  test("refused with a message naming the problem, never echoing the URL", () => {
    expect(usageError(() => parseSyslogUrl("udp://h:514"))).toContain("UDP is not supported");
    expect(usageError(() => parseSyslogUrl("https://h"))).toContain("(not https://)");
    expect(usageError(() => parseSyslogUrl("logs.example.com:514"))).toContain("tcp://HOST[:PORT]");
    expect(usageError(() => parseSyslogUrl("tcp://user:s3cret@h:514"))).not.toContain("s3cret");
    expect(usageError(() => parseSyslogUrl("tcp://h:514/path"))).toContain("just a host and a port");
    expect(usageError(() => parseSyslogUrl("tcp://h:0"))).toContain("1-65535");
    expect(usageError(() => parseSyslogUrl("tcp://h:65536"))).toContain("1-65535");
    expect(usageError(() => parseSyslogUrl("tcp://h:"))).toContain("tcp://HOST[:PORT]");
    expect(usageError(() => parseSyslogUrl("tcp://"))).toContain("tcp://HOST[:PORT]");
    expect(usageError(() => parseSyslogUrl("tcp://-bad-.example"))).toContain("not a host name");
    expect(usageError(() => parseSyslogUrl("tcp://999.1.1.1"))).toContain("not a host name");
    expect(usageError(() => parseSyslogUrl("tcp://h\u00e9"))).toContain("not a host name");
    expect(usageError(() => parseSyslogUrl("tcp://[zz::1]"))).toContain("not IPv6");
    expect(usageError(() => parseSyslogUrl("tcp://h\n:514"))).toContain("tcp://HOST[:PORT]");
  });

  test("facility: the default is authpriv; names are checked", () => {
    expect(parseSyslogFacility(undefined)).toBe("authpriv");
    expect(parseSyslogFacility("LOCAL0")).toBe("local0");
    expect(usageError(() => parseSyslogFacility("kern"))).toContain(
      "must be one of user, daemon, auth, authpriv",
    );
    expect(usageError(() => parseSyslogFacility("toString"))).toContain("must be one of");
  });
});

describe("checkSyslogOptions", () => {
  test("nothing asked: undefined; TLS files or a facility without a URL: usage error", async () => {
    expect(await checkSyslogOptions(nodeFileSystem, {})).toBeUndefined();
    expect(await usageErrorAsync(checkSyslogOptions(nodeFileSystem, { auditSyslogCa: "/x" }))).toContain(
      "need --audit-syslog URL",
    );
    expect(await usageErrorAsync(checkSyslogOptions(nodeFileSystem, { auditSyslogFacility: "local0" })))
      .toContain("need --audit-syslog URL");
  });

  test("tcp:// takes no TLS files; tls:// reads and checks them", async () => {
    const dir = await tempDir("syslog-options-");
    const ca = join(dir, "ca.pem");
    const key = join(dir, "client.key");
    const junk = join(dir, "junk.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    writeFileSync(key, "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
    writeFileSync(junk, "hello\n");
    expect(
      await checkSyslogOptions(nodeFileSystem, { auditSyslog: "tcp://h:1", auditSyslogFacility: "auth" }),
    )
      .toEqual({ target: { transport: "tcp", host: "h", port: 1 }, facility: "auth" });
    expect(
      await usageErrorAsync(
        checkSyslogOptions(nodeFileSystem, { auditSyslog: "tcp://h:1", auditSyslogCa: ca }),
      ),
    ).toContain("are for a tls:// collector");
    const plan = await checkSyslogOptions(nodeFileSystem, {
      auditSyslog: "tls://h:2",
      auditSyslogCa: ca,
      auditSyslogCert: ca,
      auditSyslogKey: key,
    });
    expect(plan?.target).toMatchObject({ transport: "tls", host: "h", port: 2 });
    expect(plan?.target.caPem).toContain("BEGIN CERTIFICATE");
    expect(plan?.target.privateKeyPem).toContain("BEGIN PRIVATE KEY");
    expect(plan?.facility).toBe("authpriv");
    expect(
      await usageErrorAsync(
        checkSyslogOptions(nodeFileSystem, { auditSyslog: "tls://h", auditSyslogCert: ca }),
      ),
    ).toContain("together");
    expect(
      await usageErrorAsync(
        checkSyslogOptions(nodeFileSystem, { auditSyslog: "tls://h", auditSyslogCa: join(dir, "missing") }),
      ),
    ).toBe(`--audit-syslog-ca: cannot read ${join(dir, "missing")}`);
    expect(
      await usageErrorAsync(
        checkSyslogOptions(nodeFileSystem, { auditSyslog: "tls://h", auditSyslogCa: junk }),
      ),
    ).toBe(`--audit-syslog-ca: ${junk} holds no PEM certificate`);
    expect(
      await usageErrorAsync(
        checkSyslogOptions(nodeFileSystem, {
          auditSyslog: "tls://h",
          auditSyslogCert: ca,
          auditSyslogKey: ca,
        }),
      ),
    ).toBe(`--audit-syslog-key: ${ca} holds no PEM private key`);
  });
});
