/**
 * `agent serve` on a fleet member: follows the fleet's state in etcd into the state directory (the running
 * agent reloads it at once), keeps this node in the registry, reports how stale it is, and refuses writes
 * once cut off for longer than --fleet-max-stale. A member is a host with <state-dir>/fleet/fleet.json
 * (from `fleet init` or `fleet join`), or one started with --fleet ENDPOINTS and a credential.
 */
import { fleetGate } from "../decide/fleet-gate.ts";
import { AgentError } from "../errors.ts";
import type { Gate } from "../decide/gate.ts";
import { connectFleet } from "../fleet/connect.ts";
import type { EtcdClient } from "../fleet/etcd.ts";
import { FleetFollower, type FollowerStatus } from "../fleet/follower.ts";
import { fleetKeys } from "../fleet/keys.ts";
import { loadFleetKey, loadSnapshotRecord, saveFleetConfig } from "../fleet/membership.ts";
import { decodeNode, type DockerSummary, type NodeRecord, NodeRegistration } from "../fleet/registry.ts";
import type { StateLayout } from "../store/layout.ts";
import { nodeOf } from "../api/node.ts";
import type { CliContext } from "./context.ts";
import type { FleetPlan } from "./serve-fleet-plan.ts";

/** A first start with no snapshot waits this long for etcd before giving up. */
const FIRST_SYNC_TIMEOUT_MS = 10_000;
/** While cut off, the log says so this often. */
const STALE_LOG_EVERY_MS = 60_000;

export interface FleetStatusReport extends FollowerStatus {
  readonly prefix: string;
  readonly name: string;
  readonly maxStaleSeconds: number | null;
}

export class FleetKeeper {
  readonly #plan: FleetPlan;
  readonly #client: EtcdClient;
  readonly #follower: FleetFollower;
  readonly #registration: NodeRegistration;
  readonly #log: (message: string) => void;
  readonly #ctx: CliContext;
  #lastStaleLogMs = 0;
  #docker: DockerSummary | undefined;
  readonly #stopping = new AbortController();
  readonly gate: Gate;

  private constructor(
    ctx: CliContext,
    plan: FleetPlan,
    client: EtcdClient,
    follower: FleetFollower,
    registration: NodeRegistration,
    log: (message: string) => void,
  ) {
    this.#ctx = ctx;
    this.#plan = plan;
    this.#client = client;
    this.#follower = follower;
    this.#registration = registration;
    this.#log = log;
    this.#lastStaleLogMs = ctx.platform.monotonicMs();
    this.gate = fleetGate(() => this.#follower.status().staleSeconds, plan.maxStaleSeconds);
  }

  /**
   * Connects and, when this host has no snapshot yet, waits for a first sync (a host never decides without
   * the fleet's policy). With a snapshot it starts at once and catches up in the background.
   */
  static async open(
    ctx: CliContext,
    plan: FleetPlan,
    layout: StateLayout,
    node: () => Omit<NodeRecord, "stateRevision">,
    log: (message: string) => void,
    applied: (revision: number) => void | Promise<void>,
  ): Promise<FleetKeeper> {
    const { config, files } = plan;
    const client = await connectFleet(ctx.fs, ctx.platform, config);
    const fleetKey = await loadFleetKey(ctx.fs, files);
    const previous = await loadSnapshotRecord(ctx.fs, files);
    const keys = fleetKeys(config.prefix);
    const registered: { registration?: NodeRegistration } = {};
    const follower = new FleetFollower({
      client,
      keys,
      files,
      materialize: { fs: ctx.fs, layout, files, fleetKey, clock: ctx.clock },
      name: config.name,
      clock: ctx.clock,
      monotonicMs: () => ctx.platform.monotonicMs(),
      sleep: (ms, signal) => ctx.platform.sleep(ms, signal),
      log,
      applied: async (revision) => {
        await applied(revision);
        registered.registration?.nudge();
      },
      ...(previous === undefined ? {} : { previous }),
    });
    const registration = new NodeRegistration({
      client,
      keys,
      record: () => ({
        ...node(),
        stateRevision: follower.status().stateRevision,
        ...(keeper.#docker === undefined ? {} : { docker: keeper.#docker }),
      }),
      clock: ctx.clock,
      sleep: (ms, signal) => ctx.platform.sleep(ms, signal),
      log,
    });
    registered.registration = registration;
    if (!(await ctx.fs.stat(files.policy))) {
      const timeout = new AbortController();
      const first = follower.syncOnce().then(() => true, (err: unknown) => err);
      const waited = await Promise.race([
        first,
        ctx.platform.sleep(FIRST_SYNC_TIMEOUT_MS, timeout.signal).then(() => false),
      ]);
      timeout.abort();
      if (waited !== true || !(await ctx.fs.stat(files.policy))) {
        client.close();
        const why = waited === false
          ? `etcd did not answer within ${FIRST_SYNC_TIMEOUT_MS / 1000} s`
          : waited === true
          ? "the fleet has no policy yet (agent fleet publish-policy FILE)"
          : `etcd: ${waited instanceof Error ? waited.message : String(waited)}`;
        throw new AgentError(
          "ERR_FLEET_UNREACHABLE",
          `this host has no snapshot of the fleet ${config.prefix} yet and cannot start without its policy: ${why}`,
        );
      }
    } else if (previous !== undefined) {
      log(
        `fleet: starting from the snapshot at revision ${previous.revision} (etcd last heard from at ${previous.contactAt})`,
      );
    }
    await saveFleetConfig(ctx.fs, files, config);
    const keeper: FleetKeeper = new FleetKeeper(ctx, plan, client, follower, registration, log);
    return keeper;
  }

  get policyFile(): string {
    return this.#plan.files.policy;
  }

  /**
   * Starts following and registering. `dockerInfo` asks this host's dockerd for GET /info (with the agent's
   * own proof), for the registry record; tried now and once a minute until it answers.
   */
  start(dockerInfo?: () => Promise<unknown>): void {
    this.#follower.start();
    this.#registration.start();
    if (dockerInfo !== undefined) void this.#describeDocker(dockerInfo);
    this.#log(
      `fleet: member ${this.#plan.config.name} of ${this.#plan.config.prefix} on ${
        this.#plan.config.endpoints.join(", ")
      }`,
    );
  }

  status(): FleetStatusReport {
    return {
      ...this.#follower.status(),
      prefix: this.#plan.config.prefix,
      name: this.#plan.config.name,
      maxStaleSeconds: this.#plan.maxStaleSeconds === Number.MAX_SAFE_INTEGER
        ? null
        : this.#plan.maxStaleSeconds,
    };
  }

  /** The registry's nodes as last seen (for /api/infra/v1/node/). */
  nodes(): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const [name, value] of this.#follower.nodes()) {
      const node = decodeNode(name, value);
      if (node !== undefined) out.push(node);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Called from serve's loop: while cut off, the log says how stale the snapshot is, once a minute. */
  tick(): void {
    const status = this.#follower.status();
    const now = this.#ctx.platform.monotonicMs();
    if (status.connected || now - this.#lastStaleLogMs < STALE_LOG_EVERY_MS) return;
    this.#lastStaleLogMs = now;
    const over = status.staleSeconds !== null && status.staleSeconds > this.#plan.maxStaleSeconds;
    this.#log(
      `fleet: etcd unreachable; deciding from the snapshot at revision ${status.revision}, ${
        status.staleSeconds === null ? "never synced" : `${status.staleSeconds} s stale`
      }${over ? " (over --fleet-max-stale: writes are refused)" : ""}`,
    );
  }

  async #describeDocker(dockerInfo: () => Promise<unknown>): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      const node = await dockerInfo().then((info) => nodeOf(info, undefined), () => undefined);
      if (node !== undefined) {
        const { uuid, docker_version, docker_graphdriver, cpu, memory } = node;
        this.#docker = { uuid, docker_version, docker_graphdriver, cpu, memory };
        return;
      }
      await this.#ctx.platform.sleep(60_000, this.#stopping.signal);
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#registration.stop();
    await this.#follower.stop();
    this.#client.close();
  }
}
