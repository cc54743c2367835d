/**
 * The console's sessions. Signing in with an API key (or the client certificate the browser presents) makes a
 * session: a random 256-bit id in an HttpOnly, Secure, SameSite=Strict cookie, and a random CSRF token the
 * page sends back in X-CSRF-Token with every change. Only the id's SHA-256 is kept (a memory dump holds no
 * usable cookie). A session lasts at most an hour; signing out ends it; a session made with an API key ends
 * when that key is revoked or expires, one made with a certificate when the certificate is revoked or expires
 * (both checked on every request, against the state in force).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { Principal } from "../api/authenticate.ts";
import { base64UrlEncode } from "../macaroon/base64.ts";
import { constantTimeEqual } from "../macaroon/bytes.ts";
import type { PeerCertificate } from "../ca/peer-certificate.ts";
import type { RandomBytes } from "../ports.ts";

export const SESSION_COOKIE = "agent_console";
export const CSRF_HEADER = "x-csrf-token";
export const SESSION_LIFETIME_MS = 60 * 60 * 1000;
const MAX_SESSIONS = 10_000;
/** One user's sessions at once (browsers, tabs after sign-outs lost): more push out that user's oldest. */
export const MAX_SESSIONS_PER_USER = 16;

export interface ConsoleSession {
  readonly principal: Principal;
  readonly via: "apikey" | "certificate";
  /** The API key it was made with (sessions end with it). */
  readonly keyId: string | undefined;
  readonly csrf: string;
  readonly expiresAtMs: number;
}

export interface SessionDeps {
  readonly random: RandomBytes;
  readonly nowMs: () => number;
  /** Whether an API key is still in force (not revoked, not expired). */
  readonly keyActive: (keyId: string) => boolean;
  /** Whether a client certificate still passes the certificate gate in force (not revoked, not expired). */
  readonly certificateActive: (certificate: PeerCertificate) => boolean;
}

function digest(id: string): string {
  return bytesToHex(sha256(utf8ToBytes(id)));
}

export class ConsoleSessions {
  readonly #deps: SessionDeps;
  readonly #byDigest = new Map<string, ConsoleSession>();

  constructor(deps: SessionDeps) {
    this.#deps = deps;
  }

  /** A new session; returns the cookie value (the id) and the session. */
  create(
    principal: Principal,
    via: ConsoleSession["via"],
    keyId?: string,
  ): { id: string; session: ConsoleSession } {
    // Expired sessions go; so does the user's oldest beyond their share, so that one credential signing in
    // again and again pushes out only its own sessions, never everyone else's.
    const now = this.#deps.nowMs();
    const mine: string[] = [];
    for (const [key, session] of this.#byDigest) {
      if (session.expiresAtMs <= now) this.#byDigest.delete(key);
      else if (session.principal.user === principal.user) mine.push(key);
    }
    for (let i = 0; i <= mine.length - MAX_SESSIONS_PER_USER; i++) this.#byDigest.delete(mine[i]!);
    if (this.#byDigest.size >= MAX_SESSIONS) {
      // The oldest goes first: a flood of sign-ins cannot grow memory without bound.
      const oldest = this.#byDigest.keys().next();
      if (oldest.done !== true) this.#byDigest.delete(oldest.value);
    }
    const id = base64UrlEncode(this.#deps.random(32));
    const session: ConsoleSession = {
      principal,
      via,
      keyId,
      csrf: base64UrlEncode(this.#deps.random(24)),
      expiresAtMs: this.#deps.nowMs() + SESSION_LIFETIME_MS,
    };
    this.#byDigest.set(digest(id), session);
    return { id, session };
  }

  /** The session of a cookie value, or undefined (unknown, expired, or its key revoked). */
  get(id: string | undefined): ConsoleSession | undefined {
    if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const key = digest(id);
    const session = this.#byDigest.get(key);
    if (session === undefined) return undefined;
    const certificate = session.principal.certificate;
    if (
      session.expiresAtMs <= this.#deps.nowMs() ||
      (session.keyId !== undefined && !this.#deps.keyActive(session.keyId)) ||
      (certificate !== undefined && !this.#deps.certificateActive(certificate))
    ) {
      this.#byDigest.delete(key);
      return undefined;
    }
    return session;
  }

  end(id: string | undefined): void {
    if (id !== undefined) this.#byDigest.delete(digest(id));
  }

  /** Whether `token` is the session's CSRF token (constant time). */
  static csrfMatches(session: ConsoleSession, token: string | null): boolean {
    if (token === null) return false;
    const a = utf8ToBytes(token);
    const b = utf8ToBytes(session.csrf);
    return a.length === b.length && constantTimeEqual(a, b);
  }

  get size(): number {
    return this.#byDigest.size;
  }
}

/** The session cookie's value in a Cookie header, if any. */
export function sessionCookieOf(request: Request): string | undefined {
  const header = request.headers.get("cookie");
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === SESSION_COOKIE) return rest.join("=");
  }
  return undefined;
}

/** Set-Cookie for a session (or, with `id` undefined, one that clears it). */
export function sessionCookie(id: string | undefined): string {
  const attributes = "Path=/; HttpOnly; Secure; SameSite=Strict";
  return id === undefined
    ? `${SESSION_COOKIE}=; ${attributes}; Max-Age=0`
    : `${SESSION_COOKIE}=${id}; ${attributes}; Max-Age=${SESSION_LIFETIME_MS / 1000}`;
}
