/**
 * `agent serve --audit-syslog URL [--audit-syslog-ca FILE] [--audit-syslog-cert FILE --audit-syslog-key FILE]
 * [--audit-syslog-facility NAME]`: checked (and the PEM files read) before anything is started; every problem
 * is ERR_USAGE naming the option. The URL is never echoed back: it could carry a password by mistake.
 */
import { AgentError } from "../errors.ts";
import type { FileSystem, SyslogTarget } from "../ports.ts";
import { DEFAULT_SYSLOG_FACILITY, SYSLOG_FACILITIES, type SyslogFacility } from "./syslog-format.ts";

export interface SyslogOptions {
  readonly auditSyslog?: string;
  readonly auditSyslogCa?: string;
  readonly auditSyslogCert?: string;
  readonly auditSyslogKey?: string;
  readonly auditSyslogFacility?: string;
}

export interface SyslogPlan {
  readonly target: SyslogTarget;
  readonly facility: SyslogFacility;
}

/** RFC 6587 has no port of its own; 514/tcp is what rsyslog and syslog-ng use. 6514 is RFC 5425's. */
const DEFAULT_PORTS = { tcp: 514, tls: 6514 } as const;
const USAGE = "--audit-syslog must be tcp://HOST[:PORT] or tls://HOST[:PORT]";
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** `tcp://HOST[:PORT]` or `tls://HOST[:PORT]` (an IPv6 address in brackets). */
export function parseSyslogUrl(text: string): Pick<SyslogTarget, "transport" | "host" | "port"> {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === "udp") {
    throw new AgentError(
      "ERR_USAGE",
      "--audit-syslog: UDP is not supported (datagrams are lost without notice and cut at the MTU): use tcp:// or tls://",
    );
  }
  if (scheme !== "tcp" && scheme !== "tls") {
    throw new AgentError("ERR_USAGE", `${USAGE}${scheme === undefined ? "" : ` (not ${scheme}://)`}`);
  }
  const rest = text.slice(scheme.length + 3).replace(/\/$/, "");
  const m = /^(?:\[([^\]]*)\]|([^:/?#@[\]]+))(?::(\d+))?$/.exec(rest);
  if (m === null) {
    throw new AgentError("ERR_USAGE", `${USAGE}: no user, path or query, just a host and a port`);
  }
  const [, ipv6, name, portText] = m;
  let host: string;
  if (ipv6 !== undefined) {
    if (!isIpv6(ipv6)) throw new AgentError("ERR_USAGE", `${USAGE}: the address in [ ] is not IPv6`);
    host = ipv6;
  } else {
    host = name ?? "";
    if (!HOST_NAME.test(host) || (/^[\d.]+$/.test(host) && !isIpv4(host))) {
      throw new AgentError("ERR_USAGE", `${USAGE}: the host is not a host name or IPv4 address`);
    }
  }
  const port = portText === undefined ? DEFAULT_PORTS[scheme] : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AgentError("ERR_USAGE", `${USAGE}: the port must be 1-65535`);
  }
  return { transport: scheme, host, port };
}

function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

export function parseSyslogFacility(text: string | undefined): SyslogFacility {
  if (text === undefined) return DEFAULT_SYSLOG_FACILITY;
  const name = text.toLowerCase();
  if (Object.hasOwn(SYSLOG_FACILITIES, name)) return name as SyslogFacility;
  throw new AgentError(
    "ERR_USAGE",
    `--audit-syslog-facility must be one of ${Object.keys(SYSLOG_FACILITIES).join(", ")}`,
  );
}

/** The plan, or undefined without --audit-syslog; ERR_USAGE for anything wrong. Starts nothing. */
export async function checkSyslogOptions(
  fs: FileSystem,
  options: SyslogOptions,
): Promise<SyslogPlan | undefined> {
  const tlsFiles = options.auditSyslogCa !== undefined || options.auditSyslogCert !== undefined ||
    options.auditSyslogKey !== undefined;
  if (options.auditSyslog === undefined) {
    if (tlsFiles || options.auditSyslogFacility !== undefined) {
      throw new AgentError(
        "ERR_USAGE",
        "--audit-syslog-ca, --audit-syslog-cert, --audit-syslog-key and --audit-syslog-facility need --audit-syslog URL",
      );
    }
    return undefined;
  }
  const address = parseSyslogUrl(options.auditSyslog);
  const facility = parseSyslogFacility(options.auditSyslogFacility);
  if (address.transport === "tcp") {
    if (tlsFiles) {
      throw new AgentError(
        "ERR_USAGE",
        "--audit-syslog-ca, --audit-syslog-cert and --audit-syslog-key are for a tls:// collector, not tcp://",
      );
    }
    return { target: address, facility };
  }
  if ((options.auditSyslogCert === undefined) !== (options.auditSyslogKey === undefined)) {
    throw new AgentError("ERR_USAGE", "give --audit-syslog-cert FILE and --audit-syslog-key FILE together");
  }
  const read = (option: string, file: string | undefined, label: RegExp, what: string) =>
    file === undefined ? Promise.resolve(undefined) : readPem(fs, option, file, label, what);
  const caPem = await read("--audit-syslog-ca", options.auditSyslogCa, CERTIFICATE, "PEM certificate");
  const certificatePem = await read(
    "--audit-syslog-cert",
    options.auditSyslogCert,
    CERTIFICATE,
    "PEM certificate",
  );
  const privateKeyPem = await read(
    "--audit-syslog-key",
    options.auditSyslogKey,
    PRIVATE_KEY,
    "PEM private key",
  );
  return {
    target: {
      ...address,
      ...(caPem === undefined ? {} : { caPem }),
      ...(certificatePem === undefined ? {} : { certificatePem }),
      ...(privateKeyPem === undefined ? {} : { privateKeyPem }),
    },
    facility,
  };
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

async function readPem(
  fs: FileSystem,
  option: string,
  file: string,
  label: RegExp,
  what: string,
): Promise<string> {
  let text: string;
  try {
    text = await fs.readText(file);
  } catch {
    throw new AgentError("ERR_USAGE", `${option}: cannot read ${file}`);
  }
  if (!label.test(text)) throw new AgentError("ERR_USAGE", `${option}: ${file} holds no ${what}`);
  return text;
}
