/**
 * This host's fleet membership, in <state-dir>/fleet/ (mode 0700):
 *   fleet.json     endpoints, prefix, node name and where the etcd credential is (written by `fleet init`,
 *                  `fleet join` or `serve --fleet`; commands that change shared state read it)
 *   fleet.key      the fleet key (32 bytes, base64url, 0600): seals the macaroon keyring in etcd
 *   node.crt, node.key, etcd-ca.pem   the etcd credential from a join bundle (key 0600)
 *   policy.yaml    the fleet's policy as last applied (the policy a member decides with)
 *   snapshot.json  the revision applied and when etcd was last heard from
 */
import { AgentError } from "../errors.ts";
import { base64Decode, base64UrlEncode } from "../macaroon/base64.ts";
import type { FileSystem, RandomBytes } from "../ports.ts";
import { SECRET_DIR_MODE, SECRET_FILE_MODE, type StateLayout } from "../store/layout.ts";
import { joinPath } from "../store/path.ts";
import { checkPrefix } from "./keys.ts";

export interface FleetFiles {
  readonly dir: string;
  readonly config: string;
  readonly fleetKey: string;
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly policy: string;
  readonly snapshot: string;
}

export function fleetFiles(layout: StateLayout): FleetFiles {
  const dir = layout.fleetDir;
  return {
    dir,
    config: joinPath(dir, "fleet.json"),
    fleetKey: joinPath(dir, "fleet.key"),
    cert: joinPath(dir, "node.crt"),
    key: joinPath(dir, "node.key"),
    ca: joinPath(dir, "etcd-ca.pem"),
    policy: joinPath(dir, "policy.yaml"),
    snapshot: joinPath(dir, "snapshot.json"),
  };
}

export interface FleetConfig {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  /** This agent's name in the registry and in its syslog lines. */
  readonly name: string;
  /** Paths of the etcd credential (PEM). */
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$/;

export function checkNodeName(name: string): string {
  if (!NAME.test(name)) {
    throw new AgentError(
      "ERR_USAGE",
      `a node name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter, digit or '_' (got ${
        JSON.stringify(name.slice(0, 70))
      })`,
    );
  }
  return name;
}

/** `https://etcd1:2379,https://etcd2:2379`: one or more http(s) URLs with a port and nothing after it. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text.split(",").map((e) => e.trim()).filter((e) => e !== "");
  if (endpoints.length === 0 || endpoints.length > 16) {
    throw new AgentError(
      "ERR_USAGE",
      "--fleet takes 1 to 16 etcd endpoints separated by commas, e.g. https://etcd1:2379",
    );
  }
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):[0-9]{1,5}\/?$/.test(endpoint)) {
      throw new AgentError(
        "ERR_USAGE",
        `an etcd endpoint is https://HOST:PORT (got ${JSON.stringify(endpoint.slice(0, 80))})`,
      );
    }
  }
  return endpoints.map((e) => e.replace(/\/$/, ""));
}

function bad(path: string, detail: string): AgentError {
  return new AgentError("ERR_FLEET_CONFIG", `${path} is not a usable fleet membership: ${detail}`);
}

/** The membership, or undefined when this host is not in a fleet (no fleet.json). */
export async function loadFleetConfig(fs: FileSystem, files: FleetFiles): Promise<FleetConfig | undefined> {
  if (!(await fs.stat(files.config))) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readText(files.config));
  } catch {
    throw bad(files.config, "not JSON");
  }
  if (typeof raw !== "object" || raw === null || (raw as { version?: unknown }).version !== 1) {
    throw bad(files.config, "unknown version");
  }
  const r = raw as Record<string, unknown>;
  const text = (name: string) => {
    const v = r[name];
    if (typeof v !== "string" || v === "") throw bad(files.config, `${name} is missing`);
    return v;
  };
  const endpoints = r["endpoints"];
  if (!Array.isArray(endpoints) || !endpoints.every((e) => typeof e === "string")) {
    throw bad(files.config, "endpoints is not a list");
  }
  try {
    return {
      endpoints: parseEndpoints(endpoints.join(",")),
      prefix: checkPrefix(text("prefix")),
      name: checkNodeName(text("name")),
      cert: text("cert"),
      key: text("key"),
      ca: text("ca"),
    };
  } catch (err) {
    if (err instanceof AgentError && err.code === "ERR_USAGE") throw bad(files.config, err.message);
    throw err;
  }
}

export async function saveFleetConfig(fs: FileSystem, files: FleetFiles, config: FleetConfig): Promise<void> {
  await fs.mkdir(files.dir, SECRET_DIR_MODE);
  const body = { version: 1, ...config };
  await fs.writeAtomic(files.config, JSON.stringify(body, null, 2) + "\n", SECRET_FILE_MODE);
}

/** The fleet key, or undefined when this host has none (it then cannot open the keyring). */
export async function loadFleetKey(fs: FileSystem, files: FleetFiles): Promise<Uint8Array | undefined> {
  if (!(await fs.stat(files.fleetKey))) return undefined;
  const key = base64Decode((await fs.readText(files.fleetKey)).trim());
  if (key === undefined || key.length !== 32) throw bad(files.fleetKey, "not 32 bytes of base64url");
  return key;
}

/** Makes the fleet key once (`fleet init`); an existing one is kept. */
export async function ensureFleetKey(
  fs: FileSystem,
  files: FleetFiles,
  random: RandomBytes,
): Promise<Uint8Array> {
  const existing = await loadFleetKey(fs, files);
  if (existing !== undefined) return existing;
  const key = random(32);
  await fs.mkdir(files.dir, SECRET_DIR_MODE);
  await fs.writeExclusive(files.fleetKey, base64UrlEncode(key) + "\n", SECRET_FILE_MODE);
  return key;
}

export async function saveFleetKey(fs: FileSystem, files: FleetFiles, key: Uint8Array): Promise<void> {
  await fs.mkdir(files.dir, SECRET_DIR_MODE);
  await fs.writeAtomic(files.fleetKey, base64UrlEncode(key) + "\n", SECRET_FILE_MODE);
}

/** What the follower records after applying a revision (and every minute while connected). */
export interface SnapshotRecord {
  readonly revision: number;
  /** When etcd was last heard from (RFC 3339). */
  readonly contactAt: string;
  /** The mod revision of each whole piece applied (or refused), so a restart does not redo them. */
  readonly applied: Readonly<Record<string, number>>;
}

export async function loadSnapshotRecord(
  fs: FileSystem,
  files: FleetFiles,
): Promise<SnapshotRecord | undefined> {
  try {
    const raw = JSON.parse(await fs.readText(files.snapshot)) as Record<string, unknown>;
    const revision = raw["revision"];
    const contactAt = raw["contactAt"];
    const applied = raw["applied"];
    if (
      raw["version"] !== 1 || typeof revision !== "number" || !Number.isSafeInteger(revision) ||
      typeof contactAt !== "string" || typeof applied !== "object" || applied === null
    ) return undefined;
    const entries = Object.entries(applied).filter((e): e is [string, number] => typeof e[1] === "number");
    return { revision, contactAt, applied: Object.fromEntries(entries) };
  } catch {
    return undefined; // none yet, or unreadable: the next sync re-lists
  }
}

export async function saveSnapshotRecord(
  fs: FileSystem,
  files: FleetFiles,
  record: SnapshotRecord,
): Promise<void> {
  await fs.mkdir(files.dir, SECRET_DIR_MODE);
  await fs.writeAtomic(files.snapshot, JSON.stringify({ version: 1, ...record }) + "\n", SECRET_FILE_MODE);
}
