/**
 * The HMAC-SHA256 signature chain shared by every macaroon peer (libmacaroons, pymacaroons, go-macaroon):
 * key derivation, first- and third-party caveat steps, and discharge binding.
 *
 * HMAC is computed here on @noble/hashes' SHA-256 without a new hash object per call: a key's schedule (the
 * SHA-256 states after its inner and outer pad blocks) is cloned into two reused working states, so one
 * HMAC over a short message costs only its compression blocks. Everything key-derived that the working
 * states and scratch buffers hold is wiped before each function returns (nothing runs in between: the
 * functions are synchronous and call no user code).
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, constantTimeEqual, utf8, wipe } from "./bytes.ts";

type Sha256 = ReturnType<typeof sha256.create>;

const BLOCK = 64;
const MAC_BYTES = 32;
const IPAD = 0x36;
const OPAD_FROM_IPAD = 0x36 ^ 0x5c;

/** The SHA-256 initial state; only ever cloned from, never updated. */
const EMPTY: Sha256 = sha256.create();
const inner: Sha256 = sha256.create();
const outer: Sha256 = sha256.create();
const pad = new Uint8Array(BLOCK);
// Two fixed halves of the pad: fed as 32 + 32 bytes, noble buffers them in its own block (no view per call).
const padLow = pad.subarray(0, BLOCK / 2);
const padHigh = pad.subarray(BLOCK / 2);

/** A key's HMAC schedule: SHA-256 after its inner pad block, and after its outer pad block. */
export interface HmacSchedule {
  readonly inner: Sha256;
  readonly outer: Sha256;
}

/** Loads `key`'s schedule into `i` and `o`. Keys longer than a block are hashed first (RFC 2104). */
function loadKey(key: Uint8Array, i: Sha256, o: Sha256): void {
  const k = key.length > BLOCK ? sha256(key) : key;
  pad.fill(IPAD);
  for (let j = 0; j < k.length; j++) pad[j] = k[j]! ^ IPAD;
  EMPTY._cloneInto(i);
  i.update(padLow);
  i.update(padHigh);
  for (let j = 0; j < BLOCK; j++) pad[j] = pad[j]! ^ OPAD_FROM_IPAD;
  EMPTY._cloneInto(o);
  o.update(padLow);
  o.update(padHigh);
  pad.fill(0);
  if (k !== key) wipe(k);
}

/**
 * Runs the message through the loaded working states; the tag goes to `out` (32 bytes). digest() wipes each
 * state, and its fresh result needs no DataView (which would cost one on every call).
 */
function finish(message: Uint8Array, out: Uint8Array): void {
  inner.update(message);
  const innerTag = inner.digest();
  outer.update(innerTag);
  wipe(innerTag);
  const tag = outer.digest();
  out.set(tag);
  wipe(tag);
}

/** HMAC-SHA256(key, message) written into `out` (32 bytes; may be `key` itself). */
export function hmacInto(key: Uint8Array, message: Uint8Array, out: Uint8Array): void {
  loadKey(key, inner, outer);
  finish(message, out);
}

/** Precomputes `key`'s schedule (the caller wipes it with wipeSchedule when done). */
export function hmacSchedule(key: Uint8Array): HmacSchedule {
  const s = { inner: sha256.create(), outer: sha256.create() };
  loadKey(key, s.inner, s.outer);
  return s;
}

/** HMAC-SHA256 with a precomputed key schedule, written into `out` (32 bytes). */
export function hmacWithSchedule(schedule: HmacSchedule, message: Uint8Array, out: Uint8Array): void {
  schedule.inner._cloneInto(inner);
  schedule.outer._cloneInto(outer);
  finish(message, out);
}

export function wipeSchedule(schedule: HmacSchedule): void {
  schedule.inner.destroy();
  schedule.outer.destroy();
}

const KEY_GENERATOR = utf8("macaroons-key-generator");
// The generator is a public constant, so its schedule is computed once.
const KEY_GENERATOR_SCHEDULE = hmacSchedule(KEY_GENERATOR);
const ZERO_KEY = new Uint8Array(32);

/** K = HMAC("macaroons-key-generator", rootKey): the key the chain starts from (and a discharge's caveat key). */
export function deriveChainKey(rootKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAC_BYTES);
  hmacWithSchedule(KEY_GENERATOR_SCHEDULE, rootKey, out);
  return out;
}

interface CachedRootKey {
  /** A copy of the root key the schedule was made from (a key changed in place is noticed). */
  readonly key: Uint8Array;
  readonly schedule: HmacSchedule;
}

// Per root-key object: the schedule of its chain key K. It is no more secret than the root key it is kept
// beside (and lives no longer: the map holds its keys weakly), and saves two key derivation and two pad blocks
// per verified token.
const rootSchedules = new WeakMap<Uint8Array, CachedRootKey>();

/** The HMAC schedule of K = deriveChainKey(rootKey), cached per root-key object. Never wipe the result. */
export function rootKeySchedule(rootKey: Uint8Array): HmacSchedule {
  const cached = rootSchedules.get(rootKey);
  if (cached !== undefined && constantTimeEqual(cached.key, rootKey)) return cached.schedule;
  if (cached !== undefined) wipeSchedule(cached.schedule);
  const chainKey = deriveChainKey(rootKey);
  const schedule = hmacSchedule(chainKey);
  wipe(chainKey);
  rootSchedules.set(rootKey, { key: rootKey.slice(), schedule });
  return schedule;
}

/** sig0 = HMAC(K, identifier). */
export function initialSignature(chainKey: Uint8Array, identifier: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAC_BYTES);
  hmacInto(chainKey, identifier, out);
  return out;
}

/** sig' = HMAC(sig, caveatId). */
export function firstPartySignature(signature: Uint8Array, caveatId: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAC_BYTES);
  hmacInto(signature, caveatId, out);
  return out;
}

/** sig' = HMAC(sig, HMAC(sig, vid) || HMAC(sig, cid)). */
export function thirdPartySignature(
  signature: Uint8Array,
  verificationId: Uint8Array,
  caveatId: Uint8Array,
): Uint8Array {
  const a = hmac(sha256, signature, verificationId);
  const b = hmac(sha256, signature, caveatId);
  const joined = concatBytes(a, b);
  const out = hmac(sha256, signature, joined);
  wipe(a, b, joined);
  return out;
}

/** A discharge's signature bound to the root macaroon it travels with. */
export function bindSignature(rootSignature: Uint8Array, dischargeSignature: Uint8Array): Uint8Array {
  return thirdPartySignature(ZERO_KEY, rootSignature, dischargeSignature);
}
