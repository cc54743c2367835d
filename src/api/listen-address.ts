/** `--listen ADDR:PORT`: an IPv4 address, a bracketed IPv6 address or a host name, and a port. */
import { parseSubjectAltName } from "../ca/names.ts";
import { AgentError } from "../errors.ts";

export interface ListenAddress {
  /** What to bind: an IP literal (canonical) or a host name (lowercase). */
  readonly hostname: string;
  /** 1-65535, or 0 for any free port. */
  readonly port: number;
  /** 0.0.0.0 or ::, every address of the host. */
  readonly wildcard: boolean;
  /** As the log shows it: `127.0.0.1:8443`, `[::1]:8443`. */
  readonly display: string;
}

function usage(text: string): AgentError {
  return new AgentError(
    "ERR_USAGE",
    `--listen must be ADDR:PORT, for example 0.0.0.0:8443, 127.0.0.1:8443, [::1]:8443 or host.example:8443 (got ${
      JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text)
    })`,
  );
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\[\]:]+)):([0-9]{1,5})$/.exec(text);
  if (match === null) throw usage(text);
  const port = Number(match[3]);
  if (port > 65535) throw usage(text);
  const ipv6 = match[1];
  let hostname: string;
  try {
    const san = parseSubjectAltName(ipv6 ?? match[2]);
    // Brackets are for IPv6 only, and an IPv6 address needs them.
    if ((ipv6 !== undefined) !== (san.type === "ip" && san.value.includes(":"))) throw usage(text);
    hostname = san.value;
  } catch {
    throw usage(text);
  }
  const wildcard = hostname === "0.0.0.0" || hostname === "::";
  const display = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  return { hostname, port, wildcard, display };
}
