/**
 * The client side of the agent's HTTPS API: Docker Cloud's paths (`/api/SUBSYSTEM/v1/[NS/]RESOURCE/`), its
 * lists (`meta` + `objects`, followed through `meta.next`) and its errors (`{"error": "..."}`), turned into
 * values and AgentErrors that name the status. The Authorization header is sent and never shown.
 */
import { AgentError } from "../errors.ts";
import type { Platform } from "../ports.ts";
import type { ApiClientConfig } from "./config.ts";

/** Pages followed at most for one list (100 objects a page: 10,000 objects). */
const MAX_PAGES = 100;
const PAGE_LIMIT = 100;
/** A service's states while long work runs: a change waits for them to pass. */
const BUSY_STATES = new Set(["Scaling", "Redeploying"]);
const SETTLE_POLL_MS = 250;
const SETTLE_TIMEOUT_MS = 120_000;

export interface ApiClient {
  /** Every object of a resource list, e.g. list("infra", "node"). */
  list(subsystem: string, resource: string): Promise<Record<string, unknown>[]>;
  /** One object by uuid or resource_uri. */
  get(subsystem: string, resource: string, id: string): Promise<Record<string, unknown>>;
  /**
   * A call that changes something: POST to the list (create) or to OBJECT/VERB/, PATCH or DELETE an object.
   * `id` undefined addresses the list; `verb` a verb of the object (`start`, `scale`, ...). Long work
   * (scale, redeploy) is waited for: the object as it is once done, or an error with the action's logs.
   */
  send(
    method: "POST" | "PATCH" | "DELETE",
    subsystem: string,
    resource: string,
    target: { readonly id?: string; readonly verb?: string; readonly body?: unknown },
  ): Promise<Record<string, unknown>>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function apiClient(platform: Pick<Platform, "httpsFetch">, config: ApiClientConfig): ApiClient {
  const prefix = (subsystem: string, resource: string) =>
    `/api/${subsystem}/v1/${config.namespace === undefined ? "" : `${config.namespace}/`}${resource}/`;

  const objectPath = (subsystem: string, resource: string, id: string) =>
    id.startsWith("/api/") ? id : `${prefix(subsystem, resource)}${encodeURIComponent(id)}/`;

  const call = async (path: string, method = "GET", payload?: unknown): Promise<unknown> =>
    (await exchange(path, method, payload)).body;

  const exchange = async (
    path: string,
    method = "GET",
    payload?: unknown,
  ): Promise<{ body: unknown; headers: Headers }> => {
    let response: Response;
    const headers: Record<string, string> = {
      authorization: config.authorization,
      accept: "application/json",
    };
    if (payload !== undefined) headers["content-type"] = "application/json";
    try {
      response = await platform.httpsFetch(`${config.baseUrl}${path}`, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
        // Verbs wait for dockerd (a redeploy of ten containers): longer than a read.
        signal: AbortSignal.timeout(method === "GET" ? 30_000 : 120_000),
      }, config.caPem === undefined ? {} : { caPem: config.caPem });
    } catch (err) {
      const why = err instanceof Error ? err.message : "no answer";
      throw new AgentError(
        "ERR_API_UNREACHABLE",
        `cannot reach the agent at ${config.baseUrl}: ${why}` +
          (config.caPem === undefined ? " (set AGENT_CACERT to the agent's cluster.crt)" : ""),
      );
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const message = isObject(body) && typeof body["error"] === "string"
        ? body["error"]
        : "no error message";
      throw new AgentError(
        response.status === 401 || response.status === 403 ? "ERR_API_REFUSED" : "ERR_API_RESPONSE",
        `the agent at ${config.baseUrl} answered ${response.status}: ${message.slice(0, 500)}`,
      );
    }
    if (body === undefined) {
      throw new AgentError("ERR_API_RESPONSE", `the agent at ${config.baseUrl} answered without JSON`);
    }
    return { body, headers: response.headers };
  };

  /**
   * Long work (a scale, a redeploy) is answered at once with the service "Scaling" or "Redeploying": wait
   * until it is not, then read its action (when the caller may) and fail with its logs if it failed.
   */
  const settled = async (answer: { body: unknown; headers: Headers }): Promise<unknown> => {
    let object = answer.body;
    const uri = isObject(object) ? object["resource_uri"] : undefined;
    if (typeof uri !== "string" || !uri.startsWith("/api/")) return object;
    for (let polls = 0; isObject(object) && BUSY_STATES.has(String(object["state"])); polls++) {
      if (polls * SETTLE_POLL_MS >= SETTLE_TIMEOUT_MS) {
        throw new AgentError(
          "ERR_API_RESPONSE",
          `the service is still ${String(object["state"])} after 120 s`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      object = await call(uri);
    }
    const action = answer.headers.get("x-dockercloud-action-uri");
    if (action !== null && action.startsWith("/api/")) {
      const record = await call(action).catch(() => undefined);
      if (isObject(record) && record["state"] === "Failed") {
        throw new AgentError(
          "ERR_API_RESPONSE",
          `the agent's ${String(record["action"])} failed: ${String(record["logs"] ?? "").slice(0, 500)}`,
        );
      }
    }
    return object;
  };

  const objectOf = (body: unknown): Record<string, unknown> => {
    if (!isObject(body)) {
      throw new AgentError("ERR_API_RESPONSE", `the agent at ${config.baseUrl} sent no object`);
    }
    return body;
  };

  return {
    async list(subsystem, resource) {
      const objects: Record<string, unknown>[] = [];
      let path: string | undefined = `${prefix(subsystem, resource)}?limit=${PAGE_LIMIT}`;
      for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
        const body = await call(path);
        if (!isObject(body) || !Array.isArray(body["objects"]) || !isObject(body["meta"])) {
          throw new AgentError(
            "ERR_API_RESPONSE",
            `the agent at ${config.baseUrl} sent a list without meta/objects`,
          );
        }
        objects.push(...body["objects"].filter(isObject));
        const next = body["meta"]["next"];
        // Only a path on the same agent is followed: a list never redirects the credentials elsewhere.
        path = typeof next === "string" && next.startsWith("/api/") ? next : undefined;
      }
      return objects;
    },
    async get(subsystem, resource, id) {
      return objectOf(await call(objectPath(subsystem, resource, id)));
    },
    async send(method, subsystem, resource, target) {
      const base = target.id === undefined
        ? prefix(subsystem, resource)
        : objectPath(subsystem, resource, target.id);
      return objectOf(
        await settled(
          await exchange(target.verb === undefined ? base : `${base}${target.verb}/`, method, target.body),
        ),
      );
    },
  };
}
