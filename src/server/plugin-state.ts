/**
 * What the plugin decides with - the policy, the CA's revocations, the macaroon keyring and revocations -
 * and the API keys the HTTPS listener checks, as pieces that each load, check and swap on their own
 * (src/store/state-pieces.ts). A piece whose files changed is reloaded alone; when it is broken it keeps its
 * last good version, says why, and never holds back the others. The gates are rebuilt from the pieces in
 * force, so a request never sees half a state.
 */
import { type ApiKeySet, indexApiKeys, loadApiKeys } from "../apikey/index.ts";
import { caFiles } from "../ca/files.ts";
import type { CertificateGateState } from "../ca/gate.ts";
import type { Gate } from "../decide/gate.ts";
import type { LoadMacaroonGateOptions } from "../decide/macaroon-gate.ts";
import { namespaceGate } from "../decide/namespace-gate.ts";
import { policyGate } from "../decide/policy-gate.ts";
import { AgentError, toAgentError } from "../errors.ts";
import type { EngineLookup } from "../gateway/namespace-types.ts";
import { type Keyring, loadKeyring, loadRevocations, type Revocations } from "../macaroon/index.ts";
import { loadPolicy, type Policy } from "../policy/index.ts";
import type { Clock, FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import {
  digestFiles,
  PIECE_TITLES,
  pieceFiles,
  STATE_PIECES,
  type StatePiece,
} from "../store/state-pieces.ts";
import { gatesFrom } from "./extra-gates.ts";
import type { PluginState } from "./plugin-app.ts";
import { stateFingerprint } from "./state-fingerprint.ts";

export interface PolicySource {
  /** File to read, or undefined when the embedded policy is used. */
  readonly file: string | undefined;
  readonly embedded?: string;
}

export async function readPolicy(fs: FileSystem, source: PolicySource): Promise<Policy> {
  if (source.file === undefined) return loadPolicy(source.embedded ?? "", "embedded demo policy");
  const info = await fs.stat(source.file);
  if (!info) {
    throw new AgentError(
      "ERR_POLICY_MISSING",
      `no policy file at ${source.file}: write one (see the README) or pass --policy FILE; the agent never runs without a policy`,
    );
  }
  return loadPolicy(await fs.readText(source.file), source.file);
}

interface PieceValues {
  readonly policy: Policy;
  readonly ca: CertificateGateState | undefined;
  readonly keyring: Keyring | undefined;
  readonly revocations: Revocations;
  readonly apikeys: ApiKeySet;
}

/** One piece as `GET /` reports it: the digest in force, when it was loaded, and why a newer one was not. */
export interface PieceStatus {
  readonly digest: string;
  readonly loadedAt: string;
  readonly error: { readonly code: string; readonly message: string; readonly digest: string } | null;
}

export interface LoadedState extends PluginState {
  readonly policy: Policy;
  readonly summary: string;
  /** The API keys in force (empty when there are none): what the HTTPS listener verifies against. */
  readonly apiKeys: ApiKeySet;
}

export interface StateLoaderDeps {
  readonly fs: FileSystem;
  readonly layout: StateLayout;
  readonly policy: PolicySource;
  readonly clock: Clock;
  /** The macaroon gate's name resolver and randomness (for the agent's own lookup token). */
  readonly macaroon?: LoadMacaroonGateOptions;
  /**
   * dockerd lookups for the namespace gate (docker/object-lookup.ts, with proofs the plugin redeems); without
   * it the plugin socket does not enforce namespaces.
   */
  readonly namespaceLookup?: EngineLookup;
  /** Gates that do not come from a piece of state (the fleet's staleness gate), checked after the others. */
  readonly extraGates?: readonly Gate[];
}

/** What one refresh did to one piece, for the log. */
export interface PieceChange {
  readonly piece: StatePiece;
  readonly error?: AgentError;
}

type Loaders = { readonly [K in StatePiece]: (deps: StateLoaderDeps) => Promise<PieceValues[K]> };

const LOADERS: Loaders = {
  policy: (deps) => readPolicy(deps.fs, deps.policy),
  // The X.509 library is loaded only once a CA certificate is there (a plugin-only host may have none).
  ca: async (deps) => {
    if (!(await deps.fs.stat(caFiles(deps.layout.caDir).certificate))) return undefined;
    const { loadCertificateGateState } = await import("../ca/gate-state.ts");
    return loadCertificateGateState(deps.fs, deps.layout.caDir);
  },
  keyring: (deps) => loadKeyring(deps.fs, deps.layout),
  revocations: (deps) => loadRevocations(deps.fs, deps.layout),
  apikeys: async (deps) => {
    const set = await loadApiKeys(deps.fs, deps.layout);
    indexApiKeys(set); // built once here, not on the first request
    return set;
  },
};

/**
 * Loads one piece the way the running agent does: the fleet checks a value from etcd with it (over the files
 * it would write) before writing anything.
 */
export function loadStatePiece(piece: StatePiece, deps: StateLoaderDeps): Promise<unknown> {
  return LOADERS[piece](deps);
}

interface Slot {
  /** Cheap change detector (sizes and mtimes): a piece is read again only when it moved. */
  fingerprint: string;
  status: PieceStatus;
}

export class PluginStateStore {
  readonly #deps: StateLoaderDeps;
  #values: PieceValues;
  readonly #slots: Record<StatePiece, Slot>;
  #state: LoadedState;

  private constructor(deps: StateLoaderDeps, values: PieceValues, slots: Record<StatePiece, Slot>) {
    this.#deps = deps;
    this.#values = values;
    this.#slots = slots;
    this.#state = this.#assemble();
  }

  /** Loads every piece; the agent never starts on a broken one (the error names the piece). */
  static async open(deps: StateLoaderDeps): Promise<PluginStateStore> {
    const values: Partial<Record<StatePiece, unknown>> = {};
    const slots = {} as Record<StatePiece, Slot>;
    for (const piece of STATE_PIECES) {
      const files = filesOf(deps, piece);
      const fingerprint = await stateFingerprint(deps.fs, files);
      const digest = await digestFiles(deps.fs, files);
      try {
        values[piece] = await LOADERS[piece](deps);
      } catch (err) {
        throw toAgentError(err);
      }
      slots[piece] = { fingerprint, status: { digest, loadedAt: deps.clock().toISOString(), error: null } };
    }
    return new PluginStateStore(deps, values as unknown as PieceValues, slots);
  }

  get state(): LoadedState {
    return this.#state;
  }

  /**
   * Reloads the pieces whose files changed, each on its own. `force` (SIGHUP) reads every piece's files
   * even when their sizes and times look unchanged; a piece whose bytes are the ones in force is kept.
   */
  async refresh(force: boolean): Promise<PieceChange[]> {
    const changes: PieceChange[] = [];
    let next = this.#values;
    for (const piece of STATE_PIECES) {
      const slot = this.#slots[piece];
      const files = filesOf(this.#deps, piece);
      const fingerprint = await stateFingerprint(this.#deps.fs, files);
      if (!force && fingerprint === slot.fingerprint) continue;
      slot.fingerprint = fingerprint;
      const digest = await digestFiles(this.#deps.fs, files);
      // Same bytes as the version in force: nothing to load, even on SIGHUP.
      if (digest === slot.status.digest && slot.status.error === null) continue;
      // The same broken bytes again: already reported.
      if (!force && digest === slot.status.error?.digest) continue;
      try {
        const value = await LOADERS[piece](this.#deps);
        next = { ...next, [piece]: value };
        slot.status = { digest, loadedAt: this.#deps.clock().toISOString(), error: null };
        changes.push({ piece });
      } catch (err) {
        const error = toAgentError(err);
        slot.status = { ...slot.status, error: { code: error.code, message: error.message, digest } };
        changes.push({ piece, error });
      }
    }
    if (next !== this.#values) {
      this.#values = next;
      this.#state = this.#assemble();
    }
    return changes;
  }

  /** Every piece's status, as `GET /` on the socket reports it. */
  report(): Record<StatePiece, PieceStatus> {
    return Object.fromEntries(STATE_PIECES.map((p) => [p, this.#slots[p].status])) as Record<
      StatePiece,
      PieceStatus
    >;
  }

  #assemble(): LoadedState {
    const { policy } = this.#values;
    const lookup = this.#deps.namespaceLookup;
    const gates: Gate[] = [
      policyGate(policy),
      ...gatesFrom(this.#values, this.#deps.clock, this.#deps.macaroon),
      // Last: its dockerd lookups are made only for requests every other gate allowed.
      ...(this.#deps.extraGates ?? []),
      ...(lookup === undefined ? [] : [namespaceGate(policy, lookup)]),
    ];
    return {
      policy,
      gates,
      apiKeys: this.#values.apikeys,
      policyHash: policy.hash,
      summary: `policy ${policy.source} (${policy.ruleCount} rules, sha256 ${
        policy.hash.slice(0, 12)
      }); gates: ${gates.map((g) => g.name).join(", ")}`,
    };
  }
}

function filesOf(deps: StateLoaderDeps, piece: StatePiece): string[] {
  return pieceFiles(piece, deps.layout, deps.policy.file);
}

/** A log line for one refresh of one piece. */
export function describeChange(change: PieceChange): string {
  const title = PIECE_TITLES[change.piece];
  return change.error === undefined
    ? `reloaded ${title}`
    : `cannot reload ${title}, keeping the previous version: ${change.error.message} [${change.error.code}]`;
}
