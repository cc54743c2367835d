/**
 * `agent serve --listen`: the HTTPS listener and everything behind it (the HTTPS API, its Stream API and
 * actions, API roles, the web console, the gateway), started beside the plugin. serve.ts loads this module
 * only when --listen is given, so a plugin-only host never loads (or holds in memory) any of it.
 */
import {
  apiKeyAuthenticator,
  certificateAuthenticator,
  createApiApp,
  openServiceStore,
  randomUuid,
  roleAuthenticator,
} from "../api/index.ts";
import { API_LIMITS } from "../api/limits.ts";
import { FailedAttemptLimiter, type LastUsedTimes } from "../apikey/index.ts";
import type { AuditEvent } from "../audit/event.ts";
import { caFiles, ensureListenerCertificate, type ListenerNames, listenerNames } from "../ca/index.ts";
import { CONSOLE_PREFIX } from "../console/console-app.ts";
import type { DecisionFeed } from "../console/decision-feed.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import { engineClient } from "../docker/engine-client.ts";
import type { EngineLookup } from "../gateway/namespace-types.ts";
import type { HttpsServer } from "../ports.ts";
import type { PluginStateStore, PolicySource } from "../server/plugin-state.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";
import { dockerSocketPath } from "./id/docker-socket.ts";
import { ActionKeeper } from "./serve-actions.ts";
import { openConsole } from "./serve-console.ts";
import type { FleetKeeper } from "./serve-fleet.ts";
import { openGateway } from "./serve-gateway.ts";
import { API_DOCKER_TIMEOUT_MS, type ListenPlan } from "./serve-listen.ts";
import { ListenerRefresh } from "./serve-listen-refresh.ts";
import { openRoles } from "./serve-roles.ts";
import { StreamKeeper } from "./serve-stream.ts";

export interface ListenerTls {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The agent's CA certificate, when there is one: client certificates are verified against it. */
  readonly clientCaPem: string | undefined;
  /** Issued from the agent's CA (no --tls-cert): the names it was asked for, and when it expires. */
  readonly issued?: { readonly names: ListenerNames; readonly notAfter: Date };
  /** A log line about the certificate. */
  readonly summary: string;
  /** Log text about client certificates. */
  readonly clients: string;
}

/** The listener's certificate: the one given, or issued (or reused) from the agent's CA. */
export async function listenerTls(
  ctx: CliContext,
  plan: ListenPlan,
  layout: StateLayout,
): Promise<ListenerTls> {
  const ca = caFiles(layout.caDir);
  const clientCaPem = (await ctx.fs.stat(ca.certificate)) ? await ctx.fs.readText(ca.certificate) : undefined;
  const clients = clientCaPem === undefined
    ? "client certificates are not requested (no CA in the state directory)"
    : `client certificates of the CA in ${ca.certificate} identify users`;
  if (plan.given !== undefined) {
    return {
      certificatePem: plan.given.certificatePem,
      privateKeyPem: plan.given.privateKeyPem,
      clientCaPem,
      summary: `HTTPS listener certificate ${plan.given.file}`,
      clients,
    };
  }
  const names = wantedNames(ctx, plan);
  const issued = await ensureListenerCertificate(
    { fs: ctx.fs, clock: ctx.clock, random: ctx.random, caDir: layout.caDir },
    layout.listenerDir,
    names,
  );
  const expires = issued.notAfter.toISOString();
  const named = [...new Set([names.name, ...names.subjectAltNames, "localhost", "127.0.0.1", "::1"])];
  return {
    certificatePem: issued.certificatePem,
    privateKeyPem: issued.privateKeyPem,
    clientCaPem,
    issued: { names, notAfter: issued.notAfter },
    summary: issued.status === "reused"
      ? `HTTPS listener certificate ${issued.certificatePath} (reused, expires ${expires})`
      : `issued the HTTPS listener certificate ${issued.certificatePath} from the agent's CA (${issued.why}); ` +
        `it names ${named.join(", ")}, and expires ${expires}`,
    clients,
  };
}

/** What the listener's own certificate should name on this host (ca/listener-certificate.ts). */
function wantedNames(ctx: CliContext, plan: ListenPlan): ListenerNames {
  const host = ctx.platform.hostNames();
  const { address } = plan;
  return listenerNames(host.hostname, address.wildcard ? undefined : address.hostname, host.addresses);
}

/** What the listener needs from the rest of serve. */
export interface HttpsDeps {
  readonly listen: ListenPlan;
  readonly tls: ListenerTls;
  readonly layout: StateLayout;
  readonly policy: PolicySource;
  readonly store: PluginStateStore;
  readonly proofs: DecisionProofs;
  readonly namespaceLookup: EngineLookup;
  readonly lastUsed: LastUsedTimes;
  readonly fleet: FleetKeeper | undefined;
  /** The fleet member's name, when it is one. */
  readonly fleetName: string | undefined;
  readonly nodeName: string | undefined;
  readonly dockerSocket: string | undefined;
  readonly apiUrl: string | undefined;
  readonly gateway: boolean;
  readonly newDecisionId: () => string;
  /** Writes an audit event (file, syslog, the console's feed). */
  readonly audit: (event: AuditEvent) => void;
  /** Reloads the state now (the console changed it). */
  readonly reload: (reason: string) => Promise<void>;
  readonly log: (message: string) => void;
}

/** The running listener and the keepers serve ticks, flushes and stops. */
export interface HttpsDoor {
  readonly https: HttpsServer;
  readonly keeper: ActionKeeper;
  readonly stream: StreamKeeper;
  /** The console's live view: every audit event goes to it. */
  readonly feed: DecisionFeed;
  /** Renews the listener's certificate and follows a new CA (checked on each reload). */
  readonly listener: ListenerRefresh | undefined;
}

/** Starts the HTTPS listener; throws (the caller logs "cannot start") when it cannot listen. */
export async function openHttps(ctx: CliContext, deps: HttpsDeps): Promise<HttpsDoor> {
  const { listen, tls, layout, store, proofs, log } = deps;
  const dockerSocket = dockerSocketPath(deps.dockerSocket, ctx.env);
  let https: HttpsServer | undefined;
  // Set once the listener runs; the role credentials read the CA in force through it.
  const refresh: { listener?: ListenerRefresh } = {};
  const services = await openServiceStore(ctx.fs, layout.services);
  if (services.problem !== undefined) log(`the HTTPS API's services are unavailable: ${services.problem}`);
  const keeper = await ActionKeeper.open(ctx, layout, log);
  const stream = await StreamKeeper.open(ctx, { layout, services, proofs, dockerSocket, log });
  const limiter = new FailedAttemptLimiter(ctx.clock);
  const roles = await openRoles(
    ctx,
    layout,
    listen,
    tls,
    () => refresh.listener?.current.clientCaPem,
    () => https?.port ?? listen.address.port,
    log,
    deps.apiUrl,
  );
  // Tried in order for every request: a client certificate of the agent's CA, an API key (Basic).
  const byCertificate = certificateAuthenticator({ gates: () => store.state.gates });
  const byApiKey = apiKeyAuthenticator({
    keys: () => store.state.apiKeys,
    clock: ctx.clock,
    limiter,
    lastUsed: deps.lastUsed,
  });
  const authenticators = [
    byCertificate,
    ...(roles === undefined ? [] : [roleAuthenticator({ services, roles, limiter })]),
    byApiKey,
  ];
  const { fleet } = deps;
  // The web console: its session cookie is one more credential of the API (not of the gateway).
  const consoleDoor = openConsole(ctx, {
    store,
    layout,
    policy: deps.policy,
    certificateAuthenticator: byCertificate,
    apiKeyAuthenticator: byApiKey,
    fleetMember: fleet !== undefined,
    reload: () => deps.reload("the console changed the state"),
    host: () => ({
      name: deps.fleetName ?? deps.nodeName ?? ctx.platform.hostNames().hostname,
      version: ctx.build.version,
      fleet: fleet?.status() ?? null,
      nodes: fleet?.nodes() ?? [],
    }),
  });
  const gateway = deps.gateway
    ? openGateway(ctx, {
      dockerSocket,
      store,
      authenticators,
      proofs,
      lookup: deps.namespaceLookup,
      audit: (event) => {
        deps.audit(event);
        stream.decision(event);
      },
      newDecisionId: deps.newDecisionId,
    })
    : undefined;
  const api = createApiApp({
    services,
    newUuid: () => randomUuid(ctx.random(16)),
    state: () => store.state,
    authenticators: [...authenticators, consoleDoor.authenticator],
    ...(roles === undefined ? {} : { roles }),
    actions: keeper.actions,
    stream: stream.deps,
    dockerStreams: { platform: ctx.platform, socketPath: dockerSocket },
    audit: deps.audit,
    clock: ctx.clock,
    monotonicMs: () => ctx.platform.monotonicMs(),
    newDecisionId: deps.newDecisionId,
    docker: engineClient({
      platform: ctx.platform,
      socketPath: dockerSocket,
      headers: () => ({}),
      timeoutMs: API_DOCKER_TIMEOUT_MS,
    }),
    proofs,
    ...(fleet === undefined || deps.fleetName === undefined
      ? {}
      : { fleet: { name: deps.fleetName, nodes: () => fleet.nodes() } }),
  });
  try {
    https = await ctx.platform.serveHttps({
      hostname: listen.address.hostname,
      port: listen.address.port,
      certificatePem: tls.certificatePem,
      privateKeyPem: tls.privateKeyPem,
      ...(tls.clientCaPem === undefined ? {} : { clientCaPem: tls.clientCaPem }),
      limits: API_LIMITS,
      ...(gateway === undefined ? {} : { passThrough: gateway.owns }),
      fetch: (request, connection) => {
        const target = request.url.slice(request.url.indexOf("/", 8));
        if (target === "/console" || target.startsWith(CONSOLE_PREFIX)) {
          return consoleDoor.app.fetch(request, { connection });
        }
        // A browser pointed at the bare address is shown the console; API clients never ask for HTML.
        if (
          target === "/" && request.method === "GET" &&
          /text\/html/.test(request.headers.get("accept") ?? "")
        ) {
          return new Response(null, { status: 302, headers: { location: CONSOLE_PREFIX } });
        }
        return gateway !== undefined && gateway.owns(target)
          ? gateway.fetch(request, connection)
          : api.fetch(request, { connection });
      },
    });
  } catch (err) {
    await stream.stop();
    throw err;
  }
  const shown = listen.address.display.replace(/:[0-9]+$/, `:${https.port}`);
  log(
    `HTTPS API${
      gateway === undefined ? "" : " and the Docker Engine API (gateway)"
    } listening on ${shown}; ${tls.clients}; the web console at https://${
      // A wildcard address is no place for a browser: the host's name is.
      shown.replace(/^(0\.0\.0\.0|\[::\])(?=:)/, ctx.platform.hostNames().hostname)}${CONSOLE_PREFIX}`,
  );
  const listener = await ListenerRefresh.start(ctx, { plan: listen, layout, tls, server: https, log });
  if (listener) refresh.listener = listener;
  return { https, keeper, stream, feed: consoleDoor.feed, listener: listener || undefined };
}
