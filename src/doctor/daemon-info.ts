/**
 * Which authorization plugins does the running dockerd use? Asked with `GET /info` on the Docker socket
 * (`Plugins.Authorization`), because a plugin given on dockerd's command line (`--authorization-plugin`)
 * appears in no configuration file. When a plugin in the chain refuses or fails the doctor's own call,
 * dockerd's error names that plugin ("authorization denied by plugin NAME: ...", "plugin NAME failed with
 * error: ..."), which also proves it is in the chain.
 */
import type { DoctorDeps } from "./context.ts";

/** How long dockerd may take to answer GET /info (it waits for a plugin that is down, ~15 s). */
export const DAEMON_TIMEOUT_MS = 3000;

/** Longest piece of dockerd's error message quoted in a finding. */
const QUOTE_MAX = 160;

export type DaemonView =
  /** dockerd answered: its authorization plugins, in chain order (empty: none). */
  | { readonly kind: "chain"; readonly plugins: readonly string[] }
  /** A plugin refused (403) or failed (500) GET /info: it is in the chain; the rest of the chain is unknown. */
  | { readonly kind: "refused"; readonly plugin: string; readonly message: string }
  /** dockerd could not be asked, or its answer does not say: `why` is a phrase for a finding. */
  | { readonly kind: "unknown"; readonly why: string };

const REFUSED = /^authorization denied by plugin ([^\s:]+): /;
const FAILED = /^plugin ([^\s:]+) failed with error: /;

function quote(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(line.length > QUOTE_MAX ? `${line.slice(0, QUOTE_MAX)}...` : line);
}

function errorMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const message = (body as { message?: unknown }).message;
  return typeof message === "string" ? message : undefined;
}

function authorizationPlugins(body: unknown): readonly string[] | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const plugins = (body as { Plugins?: unknown }).Plugins;
  if (typeof plugins !== "object" || plugins === null) return undefined;
  const list = (plugins as { Authorization?: unknown }).Authorization;
  if (list === null || list === undefined) return []; // dockerd sends null when there is none
  if (!Array.isArray(list) || !list.every((name) => typeof name === "string")) return undefined;
  return list;
}

export async function askDaemon(deps: DoctorDeps, socket: string): Promise<DaemonView> {
  if (!(await deps.fs.stat(socket))) {
    return { kind: "unknown", why: `there is no Docker socket at ${socket}` };
  }
  let response: Response;
  try {
    response = await deps.unixFetch(socket, "/info", { signal: AbortSignal.timeout(DAEMON_TIMEOUT_MS) });
  } catch (err) {
    const timedOut = err instanceof Error && err.name === "TimeoutError";
    const why = timedOut
      ? `GET /info on ${socket} got no answer within ${
        DAEMON_TIMEOUT_MS / 1000
      } s (dockerd waits that long ` +
        "for a plugin that does not answer)"
      : `no Docker daemon answers on ${socket}`;
    return { kind: "unknown", why };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { kind: "unknown", why: `the answer to GET /info on ${socket} is not JSON` };
  }
  if (response.ok) {
    const plugins = authorizationPlugins(body);
    if (plugins === undefined) {
      return { kind: "unknown", why: `the answer to GET /info on ${socket} has no Plugins.Authorization` };
    }
    return { kind: "chain", plugins };
  }
  const message = errorMessage(body) ?? "";
  const plugin = (REFUSED.exec(message) ?? FAILED.exec(message))?.[1];
  if (plugin !== undefined) return { kind: "refused", plugin, message };
  return {
    kind: "unknown",
    why: `dockerd answered GET /info on ${socket} with ${response.status}${
      message ? ` ${quote(message)}` : ""
    }`,
  };
}

/** A phrase quoting a plugin's refusal, for findings. */
export function refusal(view: { readonly message: string }): string {
  return quote(view.message);
}
