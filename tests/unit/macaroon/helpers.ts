/** Shared test helpers for the macaroon tests: deterministic randomness, clocks, error assertions. */
import { expect } from "bun:test";
import { AgentError, type ErrorCode } from "../../../src/errors.ts";
import type { Clock, RandomBytes } from "../../../src/ports.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function b64urlDecode(text: string): Uint8Array {
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(std + "=".repeat((4 - (std.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

export function b64urlEncode(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** mulberry32: a small seeded PRNG so adversarial rounds are reproducible. */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic RandomBytes from a seed (never use outside tests). */
export function seededRandom(seed: number): RandomBytes {
  const next = seededRng(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
}

export const zeroRandom: RandomBytes = (n) => new Uint8Array(n);

export function fixedClock(iso = "2025-01-02T03:04:05.000Z"): Clock {
  return () => new Date(iso);
}

/** Runs fn and returns the AgentError it threw (fails the test when it threw nothing or something else). */
export function caught(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw new Error(`expected an AgentError, got ${String(err)}`);
  }
  throw new Error("expected an AgentError, nothing was thrown");
}

export async function caughtAsync(fn: () => Promise<unknown>): Promise<AgentError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw new Error(`expected an AgentError, got ${String(err)}`);
  }
  throw new Error("expected an AgentError, nothing was thrown");
}

export function expectAgentError(fn: () => unknown, code: ErrorCode, message: string | RegExp): AgentError {
  const err = caught(fn);
  expect(err.code).toBe(code);
  if (typeof message === "string") expect(err.message).toBe(message);
  else expect(err.message).toMatch(message);
  return err;
}

export const acceptAll = (): true => true;
