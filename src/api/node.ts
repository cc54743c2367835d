/**
 * The node resource: this host, as Docker Cloud's `/api/infra/v1/node/` showed a node, from dockerd's
 * `GET /info`. Docker Cloud's fields where this host has them (memory in MB, docker_graphdriver, ...), plus
 * `name` and the container counts by state.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

export interface NodeObject {
  readonly uuid: string;
  readonly resource_uri: string;
  readonly name: string;
  readonly nickname: string;
  readonly state: "Deployed";
  readonly docker_version: string;
  readonly docker_graphdriver: string;
  readonly cpu: number;
  /** MB, as Docker Cloud counted it. */
  readonly memory: number;
  readonly current_num_containers: number;
  readonly running_num_containers: number;
  readonly paused_num_containers: number;
  readonly stopped_num_containers: number;
  /** On a fleet member: the node's name in the fleet's registry, its agent and the state revision it applied. */
  readonly agent_name?: string;
  readonly agent_version?: string;
  readonly agent_state_revision?: number;
  /** Docker Cloud's field: the address others reach the node on (a fleet node's first address). */
  readonly public_ip?: string;
}

/** A fleet member as the registry shows it (src/fleet/registry.ts), for the node list. */
export interface FleetNodeView {
  readonly name: string;
  readonly addresses: readonly string[];
  readonly agentVersion: string;
  readonly stateRevision: number;
  readonly docker?: {
    readonly uuid: string;
    readonly docker_version: string;
    readonly docker_graphdriver: string;
    readonly cpu: number;
    readonly memory: number;
  };
}

/**
 * Another fleet member as a node: what its registry record says. Its container counts are its own to report
 * (through its own API), so they are 0 here; its uuid is its dockerd's, or derived from its name.
 */
export function fleetNodeOf(node: FleetNodeView, namespace: string | undefined): NodeObject {
  const uuid = node.docker?.uuid ?? nodeUuid(`agent fleet node\0${node.name}`);
  return {
    uuid,
    resource_uri: `/api/infra/v1/${namespace === undefined ? "" : `${namespace}/`}node/${uuid}/`,
    name: node.name,
    nickname: node.name,
    state: "Deployed",
    docker_version: node.docker?.docker_version ?? "",
    docker_graphdriver: node.docker?.docker_graphdriver ?? "",
    cpu: node.docker?.cpu ?? 0,
    memory: node.docker?.memory ?? 0,
    current_num_containers: 0,
    running_num_containers: 0,
    paused_num_containers: 0,
    stopped_num_containers: 0,
    agent_name: node.name,
    agent_version: node.agentVersion,
    agent_state_revision: node.stateRevision,
    ...(node.addresses[0] === undefined ? {} : { public_ip: node.addresses[0] }),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/**
 * A stable UUID for the daemon: its /info ID when that is a UUID already (newer engines), else one derived
 * from it (older engines' IDs look like `TJSZ:O44Y:...`): SHA-256, shaped as an RFC 9562 version 8 UUID.
 */
export function nodeUuid(daemonId: string): string {
  const lower = daemonId.toLowerCase();
  if (isUuid(lower)) return lower;
  const b = sha256(utf8ToBytes(`agent node uuid\0${daemonId}`)).slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function text(info: Record<string, unknown>, key: string): string {
  const value = info[key];
  return typeof value === "string" ? value : "";
}

function count(info: Record<string, unknown>, key: string): number {
  const value = info[key];
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** The node from a /info answer; undefined when it is not one (no ID). */
export function nodeOf(info: unknown, namespace: string | undefined): NodeObject | undefined {
  if (typeof info !== "object" || info === null || Array.isArray(info)) return undefined;
  const fields = info as Record<string, unknown>;
  const id = text(fields, "ID");
  if (id === "") return undefined;
  const uuid = nodeUuid(id);
  const name = text(fields, "Name");
  return {
    uuid,
    resource_uri: `/api/infra/v1/${namespace === undefined ? "" : `${namespace}/`}node/${uuid}/`,
    name,
    nickname: name,
    state: "Deployed",
    docker_version: text(fields, "ServerVersion"),
    docker_graphdriver: text(fields, "Driver"),
    cpu: count(fields, "NCPU"),
    memory: Math.floor(count(fields, "MemTotal") / (1024 * 1024)),
    current_num_containers: count(fields, "Containers"),
    running_num_containers: count(fields, "ContainersRunning"),
    paused_num_containers: count(fields, "ContainersPaused"),
    stopped_num_containers: count(fields, "ContainersStopped"),
  };
}

/** An RFC 9562 version 4 UUID from 16 random bytes (services). */
export function randomUuid(random: Uint8Array): string {
  const b = random.slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
