/**
 * A service's fields as clients send them (Docker Cloud's names), checked strictly: unknown fields, wrong
 * types and the agent's own labels are 400. And the Engine API `POST /containers/create` body one of its
 * containers is created with: what the policy judges (privileged, binds, ...) exactly as on the socket.
 */
import { AGENT_LABEL_PREFIX, NAMESPACE_LABEL, SERVICE_LABEL } from "./namespace.ts";
import { ROLE_NAMES, ROLE_VARIABLES, type RoleCredentials } from "./role-credential.ts";
import type {
  Autorestart,
  Binding,
  ContainerPort,
  EnvVar,
  RoleName,
  ServiceRecord,
  ServiceSpec,
} from "./service-store.ts";

export const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
export const MAX_CONTAINERS_PER_SERVICE = 10;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/;
const MAX_ITEMS = 100;
const MAX_TEXT = 4096;
const AUTORESTART: readonly Autorestart[] = ["OFF", "ON_FAILURE", "ALWAYS"];

/** Fields a create may carry; PATCH takes the same but `name`. */
const CREATE_FIELDS = new Set([
  "image",
  "name",
  "target_num_containers",
  "container_envvars",
  "run_command",
  "entrypoint",
  "working_dir",
  "labels",
  "autorestart",
  "privileged",
  "bindings",
  "roles",
  "container_ports",
  "cpu_shares",
  "memory",
]);

export class SpecError extends Error {}

function fail(message: string): never {
  throw new SpecError(message);
}

function text(value: unknown, field: string, max = MAX_TEXT): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max || /[\0]/.test(value)) {
    fail(`${field} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

/** A command as Docker Cloud took it (one string, split like a shell's words) or a list of strings. */
function command(value: unknown, field: string): readonly string[] | null {
  if (value === null) return null;
  if (Array.isArray(value)) {
    if (value.length === 0 || value.length > MAX_ITEMS) fail(`${field} must have 1 to ${MAX_ITEMS} items`);
    return value.map((v, i) => text(v, `${field}[${i}]`));
  }
  const words = splitWords(text(value, field));
  if (words === undefined || words.length === 0) fail(`${field} has an unterminated quote or no words`);
  return words;
}

/** Shell-like words: whitespace separates, '...' and "..." quote, backslash escapes outside single quotes. */
export function splitWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (ch === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= "";
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + ch;
  }
  if (quote !== undefined) return undefined;
  if (word !== undefined) words.push(word);
  return words;
}

function envvars(value: unknown): EnvVar[] {
  if (!Array.isArray(value) || value.length > MAX_ITEMS) {
    fail(`container_envvars must be a list of at most ${MAX_ITEMS} {"key", "value"} objects`);
  }
  const seen = new Set<string>();
  return value.map((item, i) => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      fail(`container_envvars[${i}] must be an object`);
    }
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== "key" && k !== "value") fail(`container_envvars[${i}].${k} is not a field`);
    }
    const key = o["key"];
    const v = o["value"];
    if (typeof key !== "string" || !ENV_KEY.test(key)) {
      fail(`container_envvars[${i}].key must be a variable name`);
    }
    if (typeof v !== "string" || v.length > MAX_TEXT || v.includes("\0")) {
      fail(`container_envvars[${i}].value must be a string of at most ${MAX_TEXT} characters`);
    }
    if (seen.has(key)) fail(`container_envvars names ${key} twice`);
    seen.add(key);
    return { key, value: v };
  });
}

function labels(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("labels must be an object of strings");
  }
  const out: Record<string, string> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_ITEMS) fail(`labels may have at most ${MAX_ITEMS} entries`);
  for (const [key, v] of entries) {
    if (key.toLowerCase().startsWith(AGENT_LABEL_PREFIX)) {
      fail(`labels under ${AGENT_LABEL_PREFIX} are set by the agent only (${key})`);
    }
    if (!LABEL_KEY.test(key)) fail(`label ${JSON.stringify(key.slice(0, 64))} is not a label name`);
    if (typeof v !== "string" || v.length > MAX_TEXT) fail(`label ${key} must have a string value`);
    out[key] = v;
  }
  return out;
}

function bindings(value: unknown): Binding[] {
  if (!Array.isArray(value) || value.length > MAX_ITEMS) {
    fail(`bindings must be a list of at most ${MAX_ITEMS}`);
  }
  return value.map((item, i) => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      fail(`bindings[${i}] must be an object`);
    }
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== "host_path" && k !== "container_path" && k !== "rewritable") {
        fail(`bindings[${i}].${k} is not a field`);
      }
    }
    const host = text(o["host_path"], `bindings[${i}].host_path`);
    const container = text(o["container_path"], `bindings[${i}].container_path`);
    if (host.includes(":") || container.includes(":") || !container.startsWith("/")) {
      fail(`bindings[${i}] paths may not hold ':' and container_path must be absolute`);
    }
    const rw = o["rewritable"] ?? true;
    if (typeof rw !== "boolean") fail(`bindings[${i}].rewritable must be true or false`);
    return { host_path: host, container_path: container, rewritable: rw };
  });
}

function roles(value: unknown): RoleName[] {
  if (!Array.isArray(value) || value.length > 1 || !value.every((r) => ROLE_NAMES.includes(r as RoleName))) {
    fail('roles must be [], ["global"] or ["read"]');
  }
  return value as RoleName[];
}

function ports(value: unknown): ContainerPort[] {
  if (!Array.isArray(value) || value.length > MAX_ITEMS) {
    fail(`container_ports must be a list of at most ${MAX_ITEMS}`);
  }
  const seen = new Set<string>();
  return value.map((item, i) => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      fail(`container_ports[${i}] must be an object`);
    }
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!["protocol", "inner_port", "outer_port", "published"].includes(k)) {
        fail(`container_ports[${i}].${k.slice(0, 64)} is not a field`);
      }
    }
    const protocol = o["protocol"] ?? "tcp";
    if (protocol !== "tcp" && protocol !== "udp") fail(`container_ports[${i}].protocol must be tcp or udp`);
    const inner = whole(o["inner_port"], `container_ports[${i}].inner_port`, 1, 65535);
    const outer = o["outer_port"] === undefined || o["outer_port"] === null
      ? null
      : whole(o["outer_port"], `container_ports[${i}].outer_port`, 1, 65535);
    const published = o["published"] ?? outer !== null;
    if (typeof published !== "boolean") fail(`container_ports[${i}].published must be true or false`);
    if (!published && outer !== null) fail(`container_ports[${i}] has an outer_port but is not published`);
    const key = `${inner}/${protocol}`;
    if (seen.has(key)) fail(`container_ports names ${key} twice`);
    seen.add(key);
    return { protocol, inner_port: inner, outer_port: outer, published };
  });
}

function optionalWhole(value: unknown, field: string, min: number, max: number): number | null {
  return value === null ? null : whole(value, field, min, max);
}

function whole(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(`${field} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Reads the fields of `body` over `base` (a create starts from the defaults). */
function readFields(
  body: Record<string, unknown>,
  base: ServiceSpec,
  allowed: ReadonlySet<string>,
): ServiceSpec {
  for (const key of Object.keys(body)) {
    if (!allowed.has(key)) {
      if (key === "name" || CREATE_FIELDS.has(key)) fail(`${key} cannot be changed`);
      fail(`unknown field ${JSON.stringify(key.slice(0, 64))}`);
    }
  }
  const has = (k: string) => Object.hasOwn(body, k);
  const image = has("image") ? text(body["image"], "image", 512) : base.image;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$/.test(image)) fail("image must be an image reference");
  const autorestart = has("autorestart") ? body["autorestart"] : base.autorestart;
  if (!AUTORESTART.includes(autorestart as Autorestart)) {
    fail("autorestart must be OFF, ON_FAILURE or ALWAYS");
  }
  const privileged = has("privileged") ? body["privileged"] : base.privileged;
  if (typeof privileged !== "boolean") fail("privileged must be true or false");
  const workingDir = has("working_dir") ? body["working_dir"] : base.working_dir;
  if (workingDir !== null && (typeof workingDir !== "string" || !workingDir.startsWith("/"))) {
    fail("working_dir must be an absolute path or null");
  }
  const roleList = has("roles") ? roles(body["roles"]) : base.roles;
  const env = has("container_envvars") ? envvars(body["container_envvars"]) : base.container_envvars;
  const shadowed = roleList.length === 0 ? undefined : env.find((e) => ROLE_VARIABLES.has(e.key));
  if (shadowed !== undefined) {
    fail(`container_envvars may not set ${shadowed.key}: the agent sets it for roles`);
  }
  return {
    image,
    target_num_containers: has("target_num_containers")
      ? whole(body["target_num_containers"], "target_num_containers", 0, MAX_CONTAINERS_PER_SERVICE)
      : base.target_num_containers,
    container_envvars: env,
    run_command: has("run_command") ? command(body["run_command"], "run_command") : base.run_command,
    entrypoint: has("entrypoint") ? command(body["entrypoint"], "entrypoint") : base.entrypoint,
    working_dir: workingDir as string | null,
    labels: has("labels") ? labels(body["labels"]) : base.labels,
    autorestart: autorestart as Autorestart,
    privileged,
    bindings: has("bindings") ? bindings(body["bindings"]) : base.bindings,
    roles: roleList,
    container_ports: has("container_ports") ? ports(body["container_ports"]) : base.container_ports,
    cpu_shares: has("cpu_shares")
      ? optionalWhole(body["cpu_shares"], "cpu_shares", 2, 262144)
      : base.cpu_shares,
    memory: has("memory") ? optionalWhole(body["memory"], "memory", 6, 1048576) : base.memory,
  };
}

const DEFAULTS: ServiceSpec = {
  image: "x",
  target_num_containers: 1,
  container_envvars: [],
  run_command: null,
  entrypoint: null,
  working_dir: null,
  labels: {},
  autorestart: "OFF",
  privileged: false,
  bindings: [],
  roles: [],
  container_ports: [],
  cpu_shares: null,
  memory: null,
};

/** A create's name and spec; throws SpecError (400) for anything wrong. */
export function createSpec(body: Record<string, unknown>): { name: string; spec: ServiceSpec } {
  if (!Object.hasOwn(body, "image")) fail("image is required");
  // Docker Cloud named a service after its image when no name was given.
  const name = body["name"] ?? nameFromImage(body["image"]);
  if (typeof name !== "string" || !SERVICE_NAME.test(name)) {
    fail("name is required: letters, digits, '_', '.', '-', at most 63, starting with a letter or digit");
  }
  return { name, spec: readFields(body, DEFAULTS, CREATE_FIELDS) };
}

/** `registry:5000/team/web:1.2@sha256:...` -> `web`; undefined when that is no service name. */
export function nameFromImage(image: unknown): string | undefined {
  if (typeof image !== "string") return undefined;
  const last = image.split("@")[0]!.split("/").at(-1)!.split(":")[0]!;
  return SERVICE_NAME.test(last) ? last : undefined;
}

/** A PATCH over `record`; throws SpecError (400). */
export function patchSpec(record: ServiceSpec, body: Record<string, unknown>): ServiceSpec {
  const allowed = new Set(CREATE_FIELDS);
  allowed.delete("name");
  return readFields(body, record, allowed);
}

/** Container `index` (1-based) of the service: `NAME-index`. */
export function containerName(record: Pick<ServiceRecord, "name">, index: number): string {
  return `${record.name}-${index}`;
}

const RESTART = { OFF: "no", ON_FAILURE: "on-failure", ALWAYS: "always" } as const;

/**
 * The Engine API create body of one of the service's containers, stamped with the agent's labels; `extraEnv`
 * is the role environment (role-credential.ts) after the client's variables, when the service has a role.
 */
export function createBody(
  record: Omit<ServiceRecord, "desired" | "terminated">,
  roles: RoleCredentials | undefined,
): Record<string, unknown> {
  const extraEnv = roles?.environment(record) ?? [];
  const body: Record<string, unknown> = {
    Image: record.image,
    Env: [...record.container_envvars, ...extraEnv].map((e) => `${e.key}=${e.value}`),
    Labels: { ...record.labels, [NAMESPACE_LABEL]: record.namespace, [SERVICE_LABEL]: record.uuid },
    HostConfig: {
      Privileged: record.privileged,
      Binds: record.bindings.map((b) => `${b.host_path}:${b.container_path}:${b.rewritable ? "rw" : "ro"}`),
      RestartPolicy: { Name: RESTART[record.autorestart] },
    },
  };
  if (record.container_ports.length > 0) {
    const host = body["HostConfig"] as Record<string, unknown>;
    body["ExposedPorts"] = Object.fromEntries(
      record.container_ports.map((p) => [`${p.inner_port}/${p.protocol}`, {}]),
    );
    host["PortBindings"] = Object.fromEntries(
      record.container_ports.filter((p) => p.published).map((p) => [
        `${p.inner_port}/${p.protocol}`,
        [{ HostPort: p.outer_port === null ? "" : String(p.outer_port) }],
      ]),
    );
  }
  if (record.cpu_shares !== null) {
    (body["HostConfig"] as Record<string, unknown>)["CpuShares"] = record.cpu_shares;
  }
  if (record.memory !== null) {
    (body["HostConfig"] as Record<string, unknown>)["Memory"] = record.memory * 1024 * 1024;
  }
  if (record.run_command !== null) body["Cmd"] = [...record.run_command];
  if (record.entrypoint !== null) body["Entrypoint"] = [...record.entrypoint];
  if (record.working_dir !== null) body["WorkingDir"] = record.working_dir;
  return body;
}
