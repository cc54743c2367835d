/**
 * The web console on `serve --listen` (src/console/): its sessions, its live feed of decisions, and the app
 * the listener hands `/console/...` to. The session cookie becomes one more credential of the HTTPS API
 * (never of the gateway).
 */
import type { Authenticator } from "../api/authenticate.ts";
import { apiKeyStatus } from "../apikey/index.ts";
import { caFiles, isRevoked, readIndex, revokeCertificates } from "../ca/index.ts";
import { createConsoleApp } from "../console/console-app.ts";
import { isCertificateGate } from "../decide/certificate-gate.ts";
import { DecisionFeed } from "../console/decision-feed.ts";
import { sessionAuthenticator } from "../console/session-authenticator.ts";
import { ConsoleSessions } from "../console/sessions.ts";
import { loadKeyring, loadRevocations } from "../macaroon/index.ts";
import type { PluginStateStore, PolicySource } from "../server/plugin-state.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";

export interface ConsoleOptions {
  readonly store: PluginStateStore;
  readonly layout: StateLayout;
  readonly policy: PolicySource;
  readonly certificateAuthenticator: Authenticator;
  readonly apiKeyAuthenticator: Authenticator;
  readonly host: () => { name: string; version: string; fleet: unknown; nodes: unknown[] };
  readonly fleetMember: boolean;
  /** Reloads the state now (after the console revoked a key or a certificate). */
  readonly reload: () => Promise<void>;
}

export function openConsole(ctx: CliContext, options: ConsoleOptions) {
  const { store, layout } = options;
  const feed = new DecisionFeed();
  const sessions = new ConsoleSessions({
    random: ctx.random,
    nowMs: () => ctx.clock().getTime(),
    keyActive: (id) => {
      const key = store.state.apiKeys.keys.find((k) => k.id === id);
      return key !== undefined && apiKeyStatus(key, ctx.clock()) === "active";
    },
    certificateActive: (certificate) => {
      const gate = store.state.gates.find(isCertificateGate);
      return gate !== undefined && gate.certificates.check(certificate, certificate.commonName).allow;
    },
  });
  const caContext = { fs: ctx.fs, clock: ctx.clock, random: ctx.random, caDir: layout.caDir };
  const app = createConsoleApp({
    sessions,
    feed,
    apiKeyAuthenticator: options.apiKeyAuthenticator,
    certificateAuthenticator: options.certificateAuthenticator,
    state: () => store.state,
    report: () => store.report(),
    fs: ctx.fs,
    layout,
    clock: ctx.clock,
    random: ctx.random,
    host: options.host,
    fleetMember: options.fleetMember,
    changed: options.reload,
    ca: {
      async list() {
        const files = caFiles(layout.caDir);
        if (!(await ctx.fs.stat(files.certificate))) return [];
        const now = ctx.clock().getTime();
        return (await readIndex(ctx.fs, files.index)).certificates.map((c) => ({
          serial: c.serial,
          kind: c.kind,
          name: c.name,
          notAfter: c.notAfter,
          status: isRevoked(c) ? "revoked" : Date.parse(c.notAfter) <= now ? "expired" : "valid",
          reason: c.reason ?? null,
        }));
      },
      async revoke(serial) {
        await revokeCertificates(caContext, { target: serial });
      },
    },
    macaroons: async () => {
      const keyring = await loadKeyring(ctx.fs, layout);
      const revocations = await loadRevocations(ctx.fs, layout);
      return {
        keys: (keyring?.keys ?? []).map((k) => ({
          id: k.id,
          status: k.retiredAt !== undefined ? "retired" : k.id === keyring?.current ? "current" : "active",
          createdAt: k.createdAt,
          retiredAt: k.retiredAt ?? null,
        })),
        revocations: revocations.revoked.map((r) => ({ nonce: r.nonce, revokedAt: r.revokedAt })),
      };
    },
    policyText: async () =>
      options.policy.file === undefined
        ? options.policy.embedded ?? null
        : await ctx.fs.readText(options.policy.file).catch(() => null),
  });
  return { app, feed, authenticator: sessionAuthenticator(sessions), sessions };
}
