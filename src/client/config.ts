/**
 * Where the client commands (`agent node ...`) find an agent's HTTPS API and how they prove who they are,
 * read the way Docker Cloud's tools read theirs, so the same environment serves both: `AGENT_*` first, then
 * the `DOCKERCLOUD_*` names.
 *
 * - AGENT_HOST (DOCKERCLOUD_REST_HOST): `https://host:port`; never plain HTTP, never credentials in it.
 * - AGENT_AUTH (DOCKERCLOUD_AUTH): a whole Authorization header value, used verbatim; it wins.
 * - AGENT_USER + AGENT_APIKEY (DOCKERCLOUD_USER + DOCKERCLOUD_APIKEY): Basic auth with an API key.
 * - AGENT_NAMESPACE (DOCKERCLOUD_NAMESPACE): the namespace to address; without it, the caller's own.
 * - AGENT_CACERT: a PEM file of the CA to trust (the agent's `cluster.crt`) instead of the system's roots;
 *   AGENT_CACERT_PEM: the PEM text itself (what a container of a service with an API role is given).
 */
import { isValidUserName } from "../ca/names.ts";
import { AgentError } from "../errors.ts";
import type { Env, FileSystem } from "../ports.ts";

export interface ApiClientConfig {
  /** `https://host:port`, no trailing slash. */
  readonly baseUrl: string;
  /** The Authorization header value (secret: never printed). */
  readonly authorization: string;
  readonly namespace: string | undefined;
  readonly caPem: string | undefined;
}

function first(env: Env, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

function usage(message: string): AgentError {
  return new AgentError("ERR_USAGE", message);
}

function baseUrlOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text.includes("://") ? text : `https://${text}`);
  } catch {
    throw usage("AGENT_HOST is not a URL: write https://HOST:PORT");
  }
  if (url.protocol !== "https:") throw usage("AGENT_HOST must be https://HOST:PORT: the API speaks TLS only");
  if (url.username !== "" || url.password !== "") {
    throw usage("AGENT_HOST must not carry credentials: set AGENT_USER and AGENT_APIKEY instead");
  }
  if (url.search !== "" || url.hash !== "" || (url.pathname !== "/" && url.pathname !== "")) {
    throw usage("AGENT_HOST is only https://HOST:PORT, without a path or query");
  }
  return `${url.protocol}//${url.host}`;
}

export async function clientConfig(env: Env, fs: FileSystem): Promise<ApiClientConfig> {
  const host = first(env, "AGENT_HOST", "DOCKERCLOUD_REST_HOST");
  if (host === undefined) {
    throw usage("set AGENT_HOST=https://HOST:PORT (the agent's serve --listen address)");
  }
  const baseUrl = baseUrlOf(host);
  let authorization = first(env, "AGENT_AUTH", "DOCKERCLOUD_AUTH");
  if (authorization === undefined) {
    const user = first(env, "AGENT_USER", "DOCKERCLOUD_USER");
    const key = first(env, "AGENT_APIKEY", "DOCKERCLOUD_APIKEY");
    if (user === undefined || key === undefined) {
      throw usage(
        "no credentials: set AGENT_USER and AGENT_APIKEY (agent apikey create USER), or AGENT_AUTH",
      );
    }
    if (!isValidUserName(user)) throw usage("AGENT_USER is not a valid user name");
    authorization = `Basic ${btoa(`${user}:${key}`)}`;
  }
  const namespace = first(env, "AGENT_NAMESPACE", "DOCKERCLOUD_NAMESPACE");
  if (namespace !== undefined && !isValidUserName(namespace)) {
    throw usage("AGENT_NAMESPACE is not a valid namespace (a user or group name)");
  }
  const caFile = first(env, "AGENT_CACERT");
  // AGENT_CACERT_PEM: the PEM itself, as an API role's container gets it.
  const caPem = caFile === undefined ? first(env, "AGENT_CACERT_PEM") : await fs.readText(caFile);
  if (caPem !== undefined && !caPem.includes("-----BEGIN CERTIFICATE-----")) {
    throw usage(
      `${caFile === undefined ? "AGENT_CACERT_PEM" : `AGENT_CACERT ${caFile}`} holds no PEM certificate`,
    );
  }
  return { baseUrl, authorization, namespace, caPem };
}
