/**
 * The gates a fresh `agent serve` would build from a state directory, for tests that check what a command
 * wrote: the same loaders and gate constructors as server/plugin-state.ts, without a policy.
 */
import { loadCertificateGateState } from "../../src/ca/index.ts";
import type { Gate } from "../../src/decide/gate.ts";
import {
  type LoadMacaroonGateOptions,
  type MacaroonGate,
  macaroonGateFor,
} from "../../src/decide/macaroon-gate.ts";
import { loadKeyring, loadRevocations } from "../../src/macaroon/index.ts";
import type { Clock, FileSystem } from "../../src/ports.ts";
import { gatesFrom } from "../../src/server/extra-gates.ts";
import type { StateLayout } from "../../src/store/layout.ts";

export async function extraGates(
  fs: FileSystem,
  layout: StateLayout,
  clock: Clock,
  macaroon: LoadMacaroonGateOptions = {},
): Promise<readonly Gate[]> {
  return gatesFrom(
    {
      ca: await loadCertificateGateState(fs, layout.caDir),
      keyring: await loadKeyring(fs, layout),
      revocations: await loadRevocations(fs, layout),
    },
    clock,
    macaroon,
  );
}

/** The macaroon gate for the state directory, or undefined when macaroons are not initialised. */
export async function loadMacaroonGate(
  fs: FileSystem,
  layout: StateLayout,
  clock: Clock,
  options: LoadMacaroonGateOptions = {},
): Promise<MacaroonGate | undefined> {
  const keyring = await loadKeyring(fs, layout);
  if (keyring === undefined) return undefined;
  return macaroonGateFor(keyring, await loadRevocations(fs, layout), clock, options);
}
