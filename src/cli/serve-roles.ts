/**
 * `serve --listen`'s API roles (api/role-credential.ts): the role secret from the state directory, and where
 * containers reach the listener: `--api-url URL`, or https://HOST:PORT of --listen (the host's name for a
 * wildcard address). Without a usable secret, roles are unavailable (a service asking for one is 400) and
 * the log says why; the rest of the API works.
 */
import { RoleCredentials } from "../api/index.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";
import { loadRoleSecret } from "./role-secret.ts";
import type { ListenerTls } from "./serve-https.ts";
import type { ListenPlan } from "./serve-listen.ts";

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
