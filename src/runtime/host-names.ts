/** This host's name and its own addresses, for the HTTPS listener's certificate (Bun and Deno alike). */
import { hostname, networkInterfaces } from "node:os";
import type { HostNames } from "../ports.ts";

export function hostNames(): HostNames {
  const addresses: string[] = [];
  let interfaces: ReturnType<typeof networkInterfaces> = {};
  try {
    interfaces = networkInterfaces();
  } catch {
    // Deno without --allow-sys=networkInterfaces: the certificate names the host name and loopback only.
  }
  for (const list of Object.values(interfaces)) {
    for (const entry of list ?? []) {
      // Loopback is named anyway; a link-local address means nothing without its interface.
      if (entry.internal || entry.address.toLowerCase().startsWith("fe80:")) continue;
      if (!addresses.includes(entry.address)) addresses.push(entry.address);
    }
  }
  let name = "localhost";
  try {
    name = hostname();
  } catch {
    // Deno without --allow-sys=hostname.
  }
  return { hostname: name, addresses };
}
