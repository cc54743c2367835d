/**
 * What `agent fleet add-host NAME` hands to a new host, in one file (mode 0600) the operator copies with the
 * binary: the etcd endpoints and prefix, the host's node certificate and key (CN = NAME, its etcd user), the
 * CA etcd's members are checked against, and the fleet key that opens the keyring. `agent fleet join FILE`
 * installs it. It holds secrets: delete it once the host has joined.
 */
import { AgentError } from "../errors.ts";
import { base64Decode, base64UrlEncode } from "../macaroon/base64.ts";
import { checkPrefix } from "./keys.ts";
import { checkNodeName, parseEndpoints } from "./membership.ts";

export interface JoinBundle {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly name: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly fleetKey: Uint8Array;
}

const KIND = "agent fleet join bundle";

export function encodeBundle(bundle: JoinBundle): string {
  return JSON.stringify(
    {
      version: 1,
      kind: KIND,
      endpoints: bundle.endpoints,
      prefix: bundle.prefix,
      name: bundle.name,
      caPem: bundle.caPem,
      certPem: bundle.certPem,
      keyPem: bundle.keyPem,
      fleetKey: base64UrlEncode(bundle.fleetKey),
    },
    null,
    2,
  ) + "\n";
}

export function decodeBundle(text: string, path: string): JoinBundle {
  const bad = (detail: string) =>
    new AgentError("ERR_FLEET_CONFIG", `${path} is not a join bundle: ${detail}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw bad("not JSON (make one with `agent fleet add-host NAME` on the operator's host)");
  }
  if (typeof raw !== "object" || raw === null || raw["kind"] !== KIND || raw["version"] !== 1) {
    throw bad("unknown kind or version");
  }
  const text_ = (name: string) => {
    const value = raw[name];
    if (typeof value !== "string" || value === "") throw bad(`${name} is missing`);
    return value;
  };
  const endpoints = raw["endpoints"];
  if (!Array.isArray(endpoints) || !endpoints.every((e) => typeof e === "string")) {
    throw bad("endpoints is not a list");
  }
  const fleetKey = base64Decode(text_("fleetKey"));
  if (fleetKey === undefined || fleetKey.length !== 32) throw bad("the fleet key is not 32 bytes");
  for (const name of ["caPem", "certPem", "keyPem"]) {
    if (!text_(name).includes("-----BEGIN ")) throw bad(`${name} is not PEM`);
  }
  try {
    return {
      endpoints: parseEndpoints(endpoints.join(",")),
      prefix: checkPrefix(text_("prefix")),
      name: checkNodeName(text_("name")),
      caPem: text_("caPem"),
      certPem: text_("certPem"),
      keyPem: text_("keyPem"),
      fleetKey,
    };
  } catch (err) {
    if (err instanceof AgentError && err.code === "ERR_USAGE") throw bad(err.message);
    throw err;
  }
}
