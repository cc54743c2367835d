/**
 * `agent event`: follows the Stream API's events (`/api/audit/v1/(ns/)events/`), after docker-cloud's
 * `event` command: one line per event for people, the event's JSON with --json.
 *
 * It resumes across reconnects: it remembers the seq of the last event printed (or, before any, the seq
 * the server's auth message names) and, when the websocket drops (any close but 1000 and 4410, or a network
 * error), reconnects with `?since=LAST` after a backoff (250 ms doubling to 5 s), so no event is printed
 * twice or missed. A relist (4410: the agent no longer keeps the events after LAST, or LAST is newer than
 * its newest) is the end: the server's error on stderr, exit 1, and the caller lists again. SIGINT or
 * SIGTERM close the websocket with 1000 and exit 0.
 */
import { cac } from "cac";
import { clientConfig } from "../client/config.ts";
import { isTransient, listPath, type OpenStream, openStream, printable } from "../client/stream.ts";
import { AgentError } from "../errors.ts";
import { FILTER_TYPES } from "../stream/filters.ts";
import { CLIENT_ENVIRONMENT } from "./api-group.ts";
import type { CliContext, ExitCode } from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { integer, REPEATABLE } from "./option-kinds.ts";

export const CLOSE_RELIST = 4410;
const BACKOFF_FIRST_MS = 250;
export const BACKOFF_MAX_MS = 5_000;
/** A connection that lived this long counts as healthy: the next drop starts the backoff again. */
const HEALTHY_MS = 30_000;

interface EventOptions {
  readonly since?: number;
  readonly type?: string[];
  readonly object?: string;
  readonly parent?: string;
  readonly json?: boolean;
}

const USAGE = "[--since SEQ] [--type TYPE ...] [--object URI] [--parent URI] [--json]\n\n" +
  "Follows the events of your namespace (AGENT_NAMESPACE, or every one you may address) until\n" +
  "interrupted: DATETIME  TYPE  ACTION  STATE  RESOURCE_URI  (seq N) per line, or each event's\n" +
  "JSON with --json. --since SEQ starts after that event (replaying what came after it); without\n" +
  "it, from now. --type, --object and --parent filter as the API's ?type=, ?object= and ?parent=\n" +
  `(comma lists; types: ${FILTER_TYPES.join(", ")}).\n` +
  "When the connection drops it reconnects (backoff up to 5 s) with ?since= the last event\n" +
  "printed: nothing twice, nothing missed (a first connection that fails is an error, exit 1).\n" +
  "When the agent no longer keeps the events after that seq it says so (relist) and the command\n" +
  "exits 1: list again, then resume with --since.\n" +
  "Exit codes: 0 after SIGINT/SIGTERM (or when the agent ends the stream), 1 failure or relist\n" +
  "(reason on stderr), 2 usage error.\n\n" + CLIENT_ENVIRONMENT;

function usage(message: string): AgentError {
  return new AgentError("ERR_USAGE", message);
}

/** The filters as the events resource takes them, checked here so a typo is a usage error. */
export function eventQuery(options: EventOptions): URLSearchParams {
  const query = new URLSearchParams();
  const types = (options.type ?? []).flatMap((t) => t.split(",")).map((t) => t.trim()).filter((t) => t);
  for (const type of types) {
    if (!FILTER_TYPES.includes(type)) {
      throw usage(`--type ${JSON.stringify(type)} is none of ${FILTER_TYPES.join(", ")}`);
    }
  }
  if (options.type !== undefined && types.length === 0) throw usage("--type needs a type");
  if (types.length > 0) query.set("type", types.join(","));
  for (const [name, value] of [["object", options.object], ["parent", options.parent]] as const) {
    if (value === undefined) continue;
    const uris = value.split(",").map((v) => v.trim());
    if (uris.some((uri) => !uri.startsWith("/api/"))) {
      throw usage(`--${name} takes resource URIs (/api/app/v1/...), comma-separated`);
    }
    query.set(name, uris.join(","));
  }
  return query;
}

function isEvent(message: Record<string, unknown>): boolean {
  return typeof message["action"] === "string" && typeof message["resource_uri"] === "string";
}

/** `DATETIME  TYPE  ACTION  STATE  RESOURCE_URI  (seq N)`, unprintable characters as `?`. */
export function eventLine(event: Record<string, unknown>): string {
  const cell = (name: string, width = 0) => printable(event[name] ?? "-").padEnd(width);
  return `${cell("datetime")}  ${cell("type", 9)}  ${cell("action", 6)}  ${cell("state", 14)}  ` +
    `${cell("resource_uri")}  (seq ${printable(event["seq"] ?? "-")})\n`;
}

function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, Math.min(failures - 1, 10)));
}

export async function followEvents(ctx: CliContext, options: EventOptions): Promise<ExitCode> {
  const filters = eventQuery(options);
  const config = await clientConfig(ctx.env, ctx.fs);
  const path = listPath(config, "audit", "events");
  const platform = ctx.platform;
  const stop = new AbortController();
  let current: OpenStream | undefined;
  const interrupt = () => {
    if (stop.signal.aborted) return;
    stop.abort();
    current?.peer.close(1000, "interrupted");
  };
  const removers = [platform.onSignal("SIGINT", interrupt), platform.onSignal("SIGTERM", interrupt)];

  /** Where to resume: the seq of the last event printed (or the first auth message's). */
  let last: number | undefined = options.since;
  let connectedOnce = false;
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      const query = new URLSearchParams(filters);
      if (last !== undefined) query.set("since", String(last));
      let relist: string | undefined;
      let serverError: string | undefined;
      let printed = 0;
      const onMessage = (message: Record<string, unknown> | undefined) => {
        if (message === undefined || stop.signal.aborted) return;
        if (isEvent(message)) {
          const seq = message["seq"];
          if (typeof seq === "number") {
            if (last !== undefined && seq <= last) return; // already printed: never twice
            last = seq;
          }
          printed++;
          ctx.output.out(options.json === true ? `${JSON.stringify(message)}\n` : eventLine(message));
        } else if (message["type"] === "auth") {
          if (last === undefined && typeof message["seq"] === "number") last = message["seq"];
        } else if (message["type"] === "error") {
          const text = printable(message["error"] ?? "no error message");
          if (message["relist"] === true) relist = text;
          else serverError = text;
        }
      };
      const started = platform.monotonicMs();
      try {
        current = await openStream(platform, config, path, query, onMessage);
      } catch (err) {
        // The first connection's failure is the answer (a wrong host, a refused key); later ones may pass.
        if (!connectedOnce || !isTransient(err) || stop.signal.aborted) throw err;
        failures++;
        const wait = backoffMs(failures);
        ctx.output.err(
          `agent: ${printable(err instanceof Error ? err.message : err)}; retrying in ${wait / 1000} s\n`,
        );
        await platform.sleep(wait, stop.signal);
        continue;
      }
      connectedOnce = true;
      if (stop.signal.aborted) current.peer.close(1000, "interrupted");
      const end = await current.closed;
      current = undefined;
      if (stop.signal.aborted) break;
      if (relist !== undefined || end.code === CLOSE_RELIST) {
        throw new AgentError(
          "ERR_API_RESPONSE",
          `${relist ?? "the agent cannot resume the events (relist)"} (relist, then resume with --since)`,
        );
      }
      if (end.code === 1000) break;
      failures = printed > 0 || platform.monotonicMs() - started >= HEALTHY_MS ? 1 : failures + 1;
      const wait = backoffMs(failures);
      const why = serverError ?? (end.reason === "" ? "" : printable(end.reason));
      ctx.output.err(
        `agent: the event stream closed (${end.code}${why === "" ? "" : `: ${why}`}); ` +
          `reconnecting in ${wait / 1000} s${last === undefined ? "" : ` after seq ${last}`}\n`,
      );
      await platform.sleep(wait, stop.signal);
    }
    return 0;
  } finally {
    for (const remove of removers) remove();
  }
}

export const eventCommands: CommandGroup = {
  name: "event",
  summary: "Client: follow the events of your namespace (resumes after reconnects)",
  overview: "The client side of the Stream API (agent serve --listen).\n" + CLIENT_ENVIRONMENT,
  build(ctx) {
    const cli = cac("agent event");
    // The options are the group's: `agent event --since 5` names no command word.
    cli
      .option("--since <seq>", "Start after this event's seq (replays what came after it)", integer(0))
      .option(
        "--type <type>",
        "Only events of this type: service, container, node, action, ... (repeatable, or a comma list)",
        REPEATABLE,
      )
      .option("--object <uri>", "Only events of this object (its resource_uri; a comma list)")
      .option("--parent <uri>", "Only events with this parent (a resource_uri; a comma list)")
      .option("--json", "Print each event as its JSON line");
    cli
      .command("", "Follow the event stream until interrupted, resuming across reconnects")
      .usage(USAGE)
      .example("agent event --type service,container")
      .example("agent event --since 1041 --json")
      .action((options: EventOptions) => followEvents(ctx, options));
    return cli;
  },
};
