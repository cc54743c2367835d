/**
 * `agent serve --listen ADDR:PORT --gateway`: the Docker Engine API on the listener (src/gateway/), forwarding
 * to dockerd's unix socket. The gateway authenticates as the HTTPS API does (the same authenticators), decides
 * with the plugin's state, and proves each forwarded call to the plugin with the same one-time proofs.
 */
import type { Authenticator } from "../api/authenticate.ts";
import type { AuditEvent } from "../audit/event.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import { createGateway } from "../gateway/gateway.ts";
import type { EngineLookup } from "../gateway/namespaces.ts";
import { isGatewayTarget } from "../gateway/targets.ts";
import type { HttpsConnection } from "../ports.ts";
import type { PluginStateStore } from "../server/plugin-state.ts";
import type { CliContext } from "./context.ts";

export interface GatewayOptions {
  readonly dockerSocket: string;
  readonly store: PluginStateStore;
  readonly authenticators: readonly Authenticator[];
  readonly proofs: DecisionProofs;
  /** Objects' namespaces (shared with the plugin's namespace gate, and its cache). */
  readonly lookup: EngineLookup;
  readonly audit: (event: AuditEvent) => void;
  readonly newDecisionId: () => string;
}

export interface GatewayDoor {
  /** Whether a request target is the gateway's (the listener passes those through unread). */
  readonly owns: (target: string) => boolean;
  readonly fetch: (request: Request, connection: HttpsConnection) => Promise<Response>;
}

/** A target's path as the Request that carries it will show it (dot segments resolved, as URL does). */
function pathOf(target: string): string {
  try {
    return new URL(target, "https://gateway.invalid").pathname;
  } catch {
    return target;
  }
}

export function openGateway(ctx: CliContext, options: GatewayOptions): GatewayDoor {
  const socketPath = options.dockerSocket;
  const fetch = createGateway({
    state: () => options.store.state,
    authenticators: options.authenticators,
    audit: options.audit,
    clock: ctx.clock,
    monotonicMs: () => ctx.platform.monotonicMs(),
    newDecisionId: options.newDecisionId,
    proofs: options.proofs,
    engine: {
      forward: (request) => ctx.platform.unixForward(socketPath, request),
      hijack: (request) => ctx.platform.unixHijack(socketPath, request),
    },
    lookup: options.lookup,
  });
  return { owns: (target) => isGatewayTarget(pathOf(target)), fetch };
}
