/**
 * `serve --listen`'s Stream API event log (stream/): kept in `STATE_DIR/events.jsonl` (flushed every 100 ms,
 * closed cleanly at exit so clients resume across a restart), fed by dockerd's `/events` (containers of the
 * agent's services, read continuously from where the last run stopped) and by the API itself (actions,
 * service changes: api/app.ts, api/service.ts).
 *
 * The agent's own `/events` call passes dockerd's authorization chain, this agent, as the anonymous
 * unix-socket user: it carries a one-time stream proof (decide/decision-proof.ts), never a rule for anonymous.
 * Service states in events are counted from the container states the stream has seen (seeded from a
 * container list at start), with a scale or redeploy in progress shown as such.
 */
import { bytesToHex } from "@noble/hashes/utils.js";
import { busyServices } from "../api/service.ts";
import { CONTAINER_ID, type ContainerState, stateOf, summariesOf } from "../api/container.ts";
import type { StreamDeps } from "../api/events.ts";
import type { ServiceStore } from "../api/index.ts";
import { NAMESPACE_LABEL, SERVICE_LABEL } from "../api/namespace.ts";
import { nodeOf } from "../api/node.ts";
import type { AuditEvent } from "../audit/event.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import {
  belongsToServices,
  decisionEvent,
  DockerEventTranslator,
  eventDate,
  type EventFile,
  type EventLineSource,
  EVENTS_FILE,
  EVERY_NAMESPACE,
  openEventFile,
  runFlusher,
  startDockerEventReader,
  unixEventSource,
} from "../stream/index.ts";
import type { DockerEventReader } from "../stream/index.ts";
import { joinPath } from "../store/path.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";

export interface StreamKeeperOptions {
  readonly layout: StateLayout;
  readonly services: ServiceStore;
  /** Proofs for the agent's own /events and container list calls (the API's). */
  readonly proofs: DecisionProofs;
  readonly dockerSocket: string;
  readonly log: (message: string) => void;
}

/** Which containers of which service are in which state, as far as the stream has seen. */
class ServiceStates {
  readonly #byService = new Map<string, Map<string, ContainerState>>();

  set(service: string, container: string, state: ContainerState | "Terminated"): void {
    let containers = this.#byService.get(service);
    if (containers === undefined) this.#byService.set(service, containers = new Map());
    if (state === "Terminated") containers.delete(container);
    else containers.set(container, state);
  }

  running(service: string): number {
    let n = 0;
    for (const state of this.#byService.get(service)?.values() ?? []) if (state === "Running") n++;
    return n;
  }
}

export class StreamKeeper {
  readonly deps: StreamDeps;
  readonly #stopping = new AbortController();
  readonly #reader: DockerEventReader;
  readonly #flusher: Promise<void>;

  private constructor(
    deps: StreamDeps,
    reader: DockerEventReader,
    flusher: (s: AbortSignal) => Promise<void>,
  ) {
    this.deps = deps;
    this.#reader = reader;
    this.#flusher = flusher(this.#stopping.signal);
  }

  static async open(ctx: CliContext, options: StreamKeeperOptions): Promise<StreamKeeper> {
    const { log, proofs, services } = options;
    const file: EventFile = await openEventFile({
      fs: ctx.fs,
      path: joinPath(options.layout.root, EVENTS_FILE),
      clock: ctx.clock,
    });
    if (file.problem !== undefined) log(`events: ${file.problem}`);
    const states = new ServiceStates();
    const serviceState = (uuid: string): string | undefined => {
      const record = services.get(uuid);
      if (record === undefined) return undefined;
      const busy = busyServices({ services }).get(uuid);
      if (busy !== undefined) return busy;
      if (record.terminated) return "Terminated";
      const running = states.running(uuid);
      if (running === 0) return record.started_datetime === null ? "Not running" : "Stopped";
      return running < record.target_num_containers ? "Partly running" : "Running";
    };
    const translator = new DockerEventTranslator({
      belongs: belongsToServices(services),
      // Counted after this event's container state is known (below), so asked for later.
      serviceState: () => "",
    });
    // Each agent call to dockerd carries a proof of its own: a stream's waits for its AuthZRes.
    const proved = async <T>(
      uri: string,
      streaming: boolean,
      call: (headers: Record<string, string>) => Promise<T>,
    ) => {
      const id = bytesToHex(ctx.random(8));
      const headers = proofs.issue(id, "GET", uri, { streaming }) ?? {};
      try {
        return await call({ ...headers });
      } finally {
        if (!streaming) proofs.withdraw(id);
      }
    };
    await seed(ctx, options, states, proved).catch(() => log("events: cannot list containers at start"));
    // This host's node: its uuid from dockerd's /info (as the node resource has it), asked when first needed.
    let node: string | undefined;
    const nodeEvent = async (up: boolean) => {
      node ??= await proved("/info", false, async (headers) => {
        const response = await ctx.platform.unixFetch(options.dockerSocket, "/info", {
          headers,
          signal: AbortSignal.timeout(5_000),
        });
        return response.ok ? nodeOf(await response.json(), undefined)?.uuid : undefined;
      }).catch(() => undefined);
      if (node === undefined) return;
      file.log.append({
        type: "node",
        action: "update",
        parents: [],
        resource_uri: `/api/infra/v1/node/${node}/`,
        state: up ? "Deployed" : "Unreachable",
        uuid: node,
        datetime: eventDate(ctx.clock()),
        namespace: EVERY_NAMESPACE,
      });
    };
    // The last state each container's and service's event showed (bounded by the agent's services' containers).
    const shown = new Map<string, string>();
    const shownServices = new Map<string, string>();
    const source: EventLineSource = async (path, signal) => {
      const id = bytesToHex(ctx.random(8));
      const headers = proofs.issue(id, "GET", path, { streaming: true }) ?? {};
      signal.addEventListener("abort", () => proofs.withdraw(id), { once: true });
      try {
        const lines = await unixEventSource(ctx.platform.unixFetch, options.dockerSocket, () => headers)(
          path,
          signal,
        );
        return withdrawnAtEnd(lines, () => proofs.withdraw(id));
      } catch (err) {
        proofs.withdraw(id);
        throw err;
      }
    };
    const reader = startDockerEventReader({
      source,
      platform: ctx.platform,
      clock: ctx.clock,
      log: (message) => log(`events: ${message}`),
      onStatus: (up) => void nodeEvent(up),
      ...(file.dockerPosition === undefined ? {} : { after: file.dockerPosition }),
      onEvent: (value) => {
        const [container, service] = translator.translate(value);
        if (container === undefined) return;
        // dockerd tells a stop four times (kill TERM, kill KILL, die, stop): one event per change of state.
        if (container.action === "update" && shown.get(container.uuid) === container.state) return;
        if (container.action === "delete") shown.delete(container.uuid);
        else shown.set(container.uuid, container.state);
        const serviceUuid = container.parents[0]?.split("/").at(-2);
        if (serviceUuid !== undefined) {
          states.set(serviceUuid, container.uuid, container.state as ContainerState | "Terminated");
        }
        file.log.append(container);
        const state = service === undefined ? undefined : serviceState(service.uuid);
        if (service !== undefined && state !== undefined && shownServices.get(service.uuid) !== state) {
          shownServices.set(service.uuid, state);
          file.log.append({ ...service, state });
        }
      },
    });
    return new StreamKeeper(
      {
        events: file.log,
        setInterval: (fn, ms) => setInterval(fn, ms),
        clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
      },
      reader,
      (signal) =>
        runFlusher({ file, platform: ctx.platform, signal, position: () => reader.position(), log }),
    );
  }

  /**
   * A plugin decision (the Engine API through the socket or TLS) as an action event of the user's own
   * namespace: `Success` when allowed, `Failed` when denied. The HTTPS API's own calls are actions already.
   */
  decision(event: AuditEvent): void {
    const shown = decisionEvent(event);
    if (shown === undefined) return;
    try {
      this.deps.events.append(shown);
    } catch {
      // A user name that is no namespace (the log refuses it): the audit log has the decision.
    }
  }

  /** Stops reading dockerd's events and closes the event file (clients resume after a restart). */
  async stop(): Promise<void> {
    await this.#reader.stop();
    this.#stopping.abort();
    await this.#flusher;
  }
}

/** The containers' states at start, from dockerd's list (as the API lists them). */
async function seed(
  ctx: CliContext,
  options: StreamKeeperOptions,
  states: ServiceStates,
  proved: <T>(uri: string, streaming: boolean, call: (h: Record<string, string>) => Promise<T>) => Promise<T>,
): Promise<void> {
  const uri = "/containers/json?all=1";
  const body = await proved(uri, false, async (headers) => {
    const response = await ctx.platform.unixFetch(options.dockerSocket, uri, {
      headers,
      signal: AbortSignal.timeout(5_000),
    });
    return response.ok ? await response.json() : [];
  });
  for (const summary of summariesOf(body)) {
    const service = summary.Labels[SERVICE_LABEL];
    const namespace = summary.Labels[NAMESPACE_LABEL];
    if (service === undefined || options.services.get(service)?.namespace !== namespace) continue;
    if (CONTAINER_ID.test(summary.Id)) states.set(service, summary.Id, stateOf(summary.State));
  }
}

async function* withdrawnAtEnd(lines: AsyncIterable<string>, end: () => void): AsyncIterable<string> {
  try {
    yield* lines;
  } finally {
    end();
  }
}
