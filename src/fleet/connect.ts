/** Opens an etcd client from a membership's credential files (PEM), with errors that name the file. */
import { AgentError } from "../errors.ts";
import type { FileSystem, Platform } from "../ports.ts";
import type { EtcdClient } from "./etcd.ts";
import type { FleetConfig } from "./membership.ts";

async function pem(fs: FileSystem, path: string, what: string): Promise<string> {
  try {
    return await fs.readText(path);
  } catch {
    throw new AgentError("ERR_FLEET_CONFIG", `cannot read ${what} at ${path}`);
  }
}

export interface FleetCredential {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The client for `config`'s endpoints, with its credential or another one (an operator's `--cert/--key`). */
export async function connectFleet(
  fs: FileSystem,
  platform: Pick<Platform, "connectEtcd">,
  config: FleetConfig,
  credential: FleetCredential = config,
): Promise<EtcdClient> {
  const [caPem, certPem, keyPem] = await Promise.all([
    pem(fs, credential.ca, "the CA certificate etcd's members are checked against"),
    pem(fs, credential.cert, "the etcd client certificate"),
    pem(fs, credential.key, "the etcd client key"),
  ]);
  return await platform.connectEtcd({ endpoints: config.endpoints, caPem, certPem, keyPem });
}
