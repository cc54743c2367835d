/**
 * Verification: recompute every signature chain (root, then each discharge bound to the root), then check every
 * first-party caveat. Signatures are settled before any caveat is evaluated, so a forged token is always
 * reported as a signature failure and caveat checks only ever see authentic text.
 */
import { AgentError } from "../errors.ts";
import { bytesEqual, constantTimeEqual, utf8Text, wipe } from "./bytes.ts";
import {
  bindSignature,
  hmacInto,
  hmacWithSchedule,
  initialSignature,
  rootKeySchedule,
  thirdPartySignature,
} from "./chain.ts";
import { dischargeError, limitError, quotePredicate, signatureError } from "./failures.ts";
import { type MacaroonLimits, resolveLimits } from "./limits.ts";
import { openBox } from "./secretbox.ts";
import type { Caveat, FirstPartyCheck, Macaroon, VerifiedMacaroon } from "./types.ts";

interface ChainState {
  readonly root: Macaroon;
  readonly discharges: readonly Macaroon[];
  readonly used: boolean[];
  readonly order: Macaroon[];
  /** First-party caveat ids, one list per macaroon, root first. */
  readonly predicates: Uint8Array[][];
  readonly limits: MacaroonLimits;
}

/**
 * Verifies `root` (signed with `rootKey`) together with its bound `discharges`. Each discharge must satisfy
 * exactly one third-party caveat; unused discharges are an error. Throws AgentError:
 * ERR_MACAROON_SIGNATURE, ERR_MACAROON_DISCHARGE, ERR_MACAROON_CAVEAT or ERR_MACAROON_LIMIT.
 */
export function verify(
  root: Macaroon,
  rootKey: Uint8Array,
  discharges: readonly Macaroon[],
  checkFirstParty: FirstPartyCheck,
  limits?: Partial<MacaroonLimits>,
): VerifiedMacaroon {
  const resolved = resolveLimits(limits);
  if (discharges.length > resolved.maxDischarges) throw limitError("too many discharge macaroons");
  const state: ChainState = {
    root,
    discharges,
    used: discharges.map(() => false),
    order: [],
    predicates: [],
    limits: resolved,
  };
  // sig0 = HMAC(K, identifier), K's schedule cached per root key (see rootKeySchedule).
  const initial = new Uint8Array(32);
  hmacWithSchedule(rootKeySchedule(rootKey), root.identifier, initial);
  checkChain(state, root, initial, 0);
  if (state.used.includes(false)) {
    throw dischargeError("a discharge macaroon matches no third-party caveat", "unused discharge");
  }
  const texts: string[] = [];
  for (const list of state.predicates) {
    for (const id of list) texts.push(checkPredicate(id, checkFirstParty));
  }
  return { root, discharges: state.order, predicates: texts } as unknown as VerifiedMacaroon;
}

/**
 * Checks one macaroon's own signature first (the chain needs no discharge), then each of its third-party
 * caveats: open the caveat key with the signature at that point and verify the matching discharge with it.
 * `initial` is sig0 = HMAC(K, identifier); it is overwritten and wiped here.
 */
function checkChain(state: ChainState, m: Macaroon, initial: Uint8Array, depth: number): void {
  let signature = initial;
  // The signature before each third-party caveat: the key that sealed its verification id.
  const sealedWith: [Caveat, Uint8Array][] = [];
  try {
    if (m.caveats.length > state.limits.maxCaveats) throw limitError("too many caveats");
    const predicates: Uint8Array[] = [];
    state.predicates.push(predicates);
    for (const caveat of m.caveats) {
      if (caveat.verificationId === undefined) {
        predicates.push(caveat.identifier);
        hmacInto(signature, caveat.identifier, signature);
      } else {
        const next = thirdPartySignature(signature, caveat.verificationId, caveat.identifier);
        sealedWith.push([caveat, signature]);
        signature = next;
      }
    }
    checkSignature(state, m, signature, depth);
    for (const [caveat, sealingKey] of sealedWith) {
      if (depth + 1 > state.limits.maxDepth) throw limitError("third-party caveats nested too deeply");
      const dischargeKey = openBox(sealingKey, caveat.verificationId!);
      if (dischargeKey === undefined) throw signatureError("third-party caveat key does not open");
      let discharge: Macaroon;
      let dischargeInitial: Uint8Array;
      try {
        discharge = takeDischarge(state, caveat.identifier);
        dischargeInitial = initialSignature(dischargeKey, discharge.identifier);
      } finally {
        wipe(dischargeKey);
      }
      checkChain(state, discharge, dischargeInitial, depth + 1);
    }
  } finally {
    wipe(signature);
    for (const [, sealingKey] of sealedWith) wipe(sealingKey);
  }
}

/** The root must match its own chain; a discharge must match its chain bound to the root's signature. */
function checkSignature(state: ChainState, m: Macaroon, signature: Uint8Array, depth: number): void {
  if (depth === 0) {
    if (!constantTimeEqual(signature, m.signature)) throw signatureError("root signature mismatch");
    return;
  }
  const bound = bindSignature(state.root.signature, signature);
  const matches = constantTimeEqual(bound, m.signature);
  wipe(bound);
  if (matches) return;
  if (constantTimeEqual(signature, m.signature)) {
    throw dischargeError("discharge macaroon is not bound to the root macaroon", "unbound discharge");
  }
  throw signatureError("discharge signature mismatch");
}

function takeDischarge(state: ChainState, caveatId: Uint8Array): Macaroon {
  for (let i = 0; i < state.discharges.length; i++) {
    const candidate = state.discharges[i]!;
    if (!state.used[i] && bytesEqual(candidate.identifier, caveatId)) {
      // Marked before recursing: a discharge can never satisfy its own caveats, so cycles are impossible.
      state.used[i] = true;
      state.order.push(candidate);
      return candidate;
    }
  }
  throw dischargeError("no discharge macaroon for a third-party caveat", "missing discharge");
}

function checkPredicate(id: Uint8Array, check: FirstPartyCheck): string {
  const text = utf8Text(id);
  if (text === undefined) {
    throw new AgentError(
      "ERR_MACAROON_CAVEAT",
      "caveat is not valid UTF-8 text",
      "binary first-party caveat",
    );
  }
  let result: true | string;
  try {
    result = check(text);
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError(
      "ERR_MACAROON_CAVEAT",
      `caveat ${quotePredicate(text)} could not be checked`,
      err instanceof Error ? err.message : String(err),
    );
  }
  if (result === true) return text;
  throw new AgentError("ERR_MACAROON_CAVEAT", `caveat ${quotePredicate(text)} not satisfied: ${result}`);
}
