/**
 * `serve --listen`'s API roles (api/role-credential.ts): the role secret from the state directory, and where
 * containers reach the listener: `--api-url URL`, or https://HOST:PORT of --listen (the host's name for a
 * wildcard address). Without a usable secret, roles are unavailable (a service asking for one is 400) and
 * the log says why; the rest of the API works.
 */
import { RoleCredentials } from "../api/index.ts";
import { AgentError } from "../errors.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";
import { loadRoleSecret } from "./role-secret.ts";
import type { ListenerTls, ListenPlan } from "./serve-listen.ts";

/** `--api-url`: an https URL with no path, query or credentials; only with --listen. Usage error otherwise. */
export function checkApiUrl(url: string | undefined, listening: boolean): void {
  if (url === undefined) return;
  if (!listening) {
    throw new AgentError("ERR_USAGE", "--api-url is for the HTTPS listener: add --listen ADDR:PORT");
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    parsed === undefined || parsed.protocol !== "https:" || parsed.username !== "" ||
    parsed.password !== "" ||
    parsed.search !== "" || parsed.hash !== "" || parsed.pathname !== "/"
  ) {
    throw new AgentError(
      "ERR_USAGE",
      `--api-url must be https://HOST[:PORT] with nothing after it (got ${JSON.stringify(url.slice(0, 80))})`,
    );
  }
}

export async function openRoles(
  ctx: CliContext,
  layout: StateLayout,
  listen: ListenPlan,
  tls: ListenerTls,
  /** The CA clients are verified against now (it follows `agent ca init --force`), else `tls`'s. */
  currentCaPem: () => string | undefined,
  port: () => number,
  log: (message: string) => void,
  apiUrl?: string,
): Promise<RoleCredentials | undefined> {
  const loaded = await loadRoleSecret(ctx.fs, ctx.random, layout.roleSecret);
  if (!loaded.ok) {
    log(`API roles are unavailable: ${loaded.problem}`);
    return undefined;
  }
  const { address } = listen;
  const host = address.wildcard ? ctx.platform.hostNames().hostname : address.hostname;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  // The listener's certificate chains to the agent's CA only when the agent issued it.
  return new RoleCredentials(loaded.secret, () => ({
    restUrl: apiUrl?.replace(/\/$/, "") ?? `https://${shownHost}:${port()}`,
    caPem: listen.given === undefined ? currentCaPem() ?? tls.clientCaPem : undefined,
  }));
}
