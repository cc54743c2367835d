/**
 * The services' specs and desired states: one JSON file, `STATE_DIR/services.json` (mode 0600, written
 * atomically after every change, read once at startup). A file that cannot be read or parsed is never
 * overwritten: the service calls answer 503 naming it until it is fixed or moved away and `serve` restarted.
 */
import { AgentError } from "../errors.ts";
import type { FileSystem } from "../ports.ts";
import { SECRET_FILE_MODE } from "../store/layout.ts";

export interface EnvVar {
  readonly key: string;
  readonly value: string;
}

export interface Binding {
  readonly host_path: string;
  readonly container_path: string;
  readonly rewritable: boolean;
}

export type Autorestart = "OFF" | "ON_FAILURE" | "ALWAYS";

/** A port of a service's containers, as Docker Cloud described it. */
export interface ContainerPort {
  readonly protocol: "tcp" | "udp";
  readonly inner_port: number;
  /** The host port when published: a number, or null for one dockerd picks. */
  readonly outer_port: number | null;
  readonly published: boolean;
}

/** API roles (role-credential.ts): what the credential in the service's containers may do. */
export type RoleName = "global" | "read";

/** What a client may set on a service (POST, PATCH). */
export interface ServiceSpec {
  readonly image: string;
  readonly target_num_containers: number;
  readonly container_envvars: readonly EnvVar[];
  readonly run_command: readonly string[] | null;
  readonly entrypoint: readonly string[] | null;
  readonly working_dir: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly autorestart: Autorestart;
  readonly privileged: boolean;
  readonly bindings: readonly Binding[];
  /** [] (no credential), ["global"] or ["read"]. */
  readonly roles: readonly RoleName[];
  readonly container_ports: readonly ContainerPort[];
  /** Relative CPU weight (HostConfig.CpuShares), or null for dockerd's default. */
  readonly cpu_shares: number | null;
  /** Memory limit in MB (HostConfig.Memory), or null for none. */
  readonly memory: number | null;
}

export interface ServiceRecord extends ServiceSpec {
  readonly uuid: string;
  readonly namespace: string;
  readonly name: string;
  /** What the user asked for last: started (start/, redeploy of a running one) or not. */
  readonly desired: "running" | "stopped";
  readonly terminated: boolean;
  readonly created_datetime: string;
  readonly started_datetime: string | null;
  readonly stopped_datetime: string | null;
  readonly destroyed_datetime: string | null;
  /** The user who created it: a role credential acts with this user's rights (null: created before roles). */
  readonly created_by: string | null;
  /** Moves on whenever roles change, so a role credential of before the change stops working. */
  readonly role_generation: number;
}

export interface ServiceStore {
  list(): readonly ServiceRecord[];
  get(uuid: string): ServiceRecord | undefined;
  /** Writes the file with `record` in place of the one with its uuid (or added). */
  put(record: ServiceRecord): Promise<void>;
  /** Why the store cannot be used (a broken file), or undefined. */
  readonly problem: string | undefined;
  /** Runs `task` alone: service changes never interleave. */
  exclusive<T>(task: () => Promise<T>): Promise<T>;
}

/** At most this many services per state directory (terminated ones included). */
export const MAX_SERVICES = 10_000;

function checkRecord(value: unknown): value is ServiceRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r["uuid"] === "string" && typeof r["namespace"] === "string" &&
    typeof r["name"] === "string" &&
    typeof r["image"] === "string" && typeof r["target_num_containers"] === "number" &&
    Array.isArray(r["container_envvars"]) && typeof r["labels"] === "object" && r["labels"] !== null &&
    (r["desired"] === "running" || r["desired"] === "stopped") && typeof r["terminated"] === "boolean" &&
    Array.isArray(r["bindings"]) && typeof r["privileged"] === "boolean" &&
    (r["roles"] === undefined || Array.isArray(r["roles"]));
}

/** A record written before roles existed reads as one without roles. */
function withDefaults(r: ServiceRecord): ServiceRecord {
  return {
    ...r,
    roles: r.roles ?? [],
    created_by: r.created_by ?? null,
    role_generation: r.role_generation ?? 0,
  };
}

/** An in-memory store (tests, and the fallback without a state directory). */
export function memoryServiceStore(initial: readonly ServiceRecord[] = []): ServiceStore {
  return storeOver(initial, undefined, () => Promise.resolve());
}

function storeOver(
  initial: readonly ServiceRecord[],
  problem: string | undefined,
  write: (records: readonly ServiceRecord[]) => Promise<void>,
): ServiceStore {
  const records = new Map(initial.map((r) => [r.uuid, r]));
  let chain: Promise<unknown> = Promise.resolve();
  return {
    problem,
    list: () => [...records.values()],
    get: (uuid) => records.get(uuid),
    async put(record) {
      if (problem !== undefined) throw new AgentError("ERR_STATE_CORRUPT", problem);
      if (!records.has(record.uuid) && records.size >= MAX_SERVICES) {
        throw new AgentError("ERR_API_BAD_REQUEST", `at most ${MAX_SERVICES} services per host`);
      }
      const next = new Map(records);
      next.set(record.uuid, record);
      await write([...next.values()]);
      records.set(record.uuid, record);
    },
    exclusive<T>(task: () => Promise<T>): Promise<T> {
      const run = chain.then(task, task);
      chain = run.catch(() => undefined);
      return run;
    },
  };
}

/** The store in `path`: empty when the file does not exist, broken (see `problem`) when it is unreadable. */
export async function openServiceStore(fs: FileSystem, path: string): Promise<ServiceStore> {
  const write = (records: readonly ServiceRecord[]) =>
    fs.writeAtomic(path, `${JSON.stringify({ version: 1, services: records }, null, 1)}\n`, SECRET_FILE_MODE);
  if ((await fs.stat(path)) === undefined) return storeOver([], undefined, write);
  let problem: string | undefined;
  let records: ServiceRecord[] = [];
  try {
    const doc = JSON.parse(await fs.readText(path)) as unknown;
    const services =
      typeof doc === "object" && doc !== null && (doc as Record<string, unknown>)["version"] === 1
        ? (doc as Record<string, unknown>)["services"]
        : undefined;
    if (!Array.isArray(services) || !services.every(checkRecord)) {
      problem = `${path} is not a services file of this agent (version 1)`;
    } else records = services.map(withDefaults);
  } catch {
    problem = `${path} cannot be read or is not JSON`;
  }
  if (problem !== undefined) problem += ": fix it or move it away, then restart agent serve";
  return storeOver(records, problem, write);
}
