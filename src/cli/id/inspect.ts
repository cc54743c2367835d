/**
 * `agent id inspect`: what a token says (any format, root and discharges) without its signature, and with
 * --verify what the keyring on this host makes of it: signature, key, revocation, and each caveat (holds,
 * fails, or depends on the request the plugin will see).
 */
import { IP_CAVEAT_UNCHECKABLE } from "../../decide/docker-caveats.ts";
import { AgentError } from "../../errors.ts";
import {
  type CaveatSummary,
  decodeStack,
  describeMacaroon,
  dockerCaveats,
  type Keyring,
  type MacaroonSummary,
  type Revocations,
  verifyToken,
} from "../../macaroon/index.ts";

export type CaveatStatus = "holds" | "fails" | "per-request";

export interface CaveatCheck {
  readonly caveat: string;
  readonly status: CaveatStatus;
  readonly reason: string;
}

export type KeyStatus = "current" | "active" | "retired" | "unknown" | "foreign";

export interface Verification {
  readonly valid: boolean;
  /** Why the token is refused before any caveat is looked at (signature, key, revocation, structure). */
  readonly problem: string | null;
  readonly code: string | null;
  readonly keyStatus: KeyStatus;
  readonly revoked: boolean;
  readonly caveats: readonly CaveatCheck[];
}

export interface InspectReport {
  readonly macaroons: readonly (MacaroonSummary & { readonly role: "root" | "discharge" })[];
  /** The earliest `expires` caveat (RFC 3339), or null when the token never expires. */
  readonly expires: string | null;
  readonly verification?: Verification;
}

function firstParty(caveats: readonly CaveatSummary[]): string[] {
  return caveats.flatMap((c) => (c.kind === "first-party" ? [c.predicate] : []));
}

function earliestExpiry(predicates: readonly string[]): number | undefined {
  let earliest: number | undefined;
  for (const p of predicates) {
    try {
      const c = dockerCaveats.parse(p);
      if (c.name === "expires" && (earliest === undefined || c.atMs < earliest)) earliest = c.atMs;
    } catch {
      // An unparsable caveat is reported by --verify; it sets no expiry.
    }
  }
  return earliest;
}

export function inspectToken(token: string): InspectReport {
  const stack = decodeStack(token);
  const macaroons = stack.map((m, i) => ({
    role: i === 0 ? "root" as const : "discharge" as const,
    ...describeMacaroon(m),
  }));
  const expiry = earliestExpiry(macaroons.flatMap((m) => firstParty(m.caveats)));
  return { macaroons, expires: expiry === undefined ? null : rfc3339(expiry) };
}

function keyStatusOf(keyring: Keyring, keyId: string | undefined): KeyStatus {
  if (keyId === undefined) return "foreign";
  const key = keyring.keys.find((k) => k.id === keyId);
  if (key === undefined) return "unknown";
  if (key.retiredAt !== undefined) return "retired";
  return keyId === keyring.current ? "current" : "active";
}

/** RFC 3339 UTC, whole seconds without a fraction (as caveats are written). */
function rfc3339(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Judges one first-party caveat as far as it can be judged without a request. */
export function checkCaveatOffline(predicate: string, nowMs: number): CaveatCheck {
  let parsed;
  try {
    parsed = dockerCaveats.parse(predicate);
  } catch (err) {
    return {
      caveat: predicate,
      status: "fails",
      reason: err instanceof AgentError ? err.message : "invalid caveat",
    };
  }
  switch (parsed.name) {
    case "expires":
      return nowMs < parsed.atMs
        ? { caveat: predicate, status: "holds", reason: `expires in ${duration(parsed.atMs - nowMs)}` }
        : { caveat: predicate, status: "fails", reason: `expired at ${rfc3339(parsed.atMs)}` };
    case "ip":
      return { caveat: predicate, status: "fails", reason: IP_CAVEAT_UNCHECKABLE };
    case "op":
      return { caveat: predicate, status: "per-request", reason: "checked against each request's method" };
    case "container_id":
      return {
        caveat: predicate,
        status: "per-request",
        reason: "checked against the container each request names",
      };
    case "image_id":
      return {
        caveat: predicate,
        status: "per-request",
        reason: "checked against the image each request names",
      };
  }
}

export function verifyForInspect(
  token: string,
  report: InspectReport,
  keyring: Keyring,
  revocations: Revocations,
  nowMs: number,
): Verification {
  const root = report.macaroons[0]!;
  const keyStatus = keyStatusOf(keyring, root.keyId);
  const revoked = root.nonce !== undefined && revocations.revoked.some((r) => r.nonce === root.nonce);
  let predicates: readonly string[];
  try {
    predicates = verifyToken(token, { keyring, revocations, check: () => true }).predicates;
  } catch (err) {
    const e = err instanceof AgentError ? err : new AgentError("ERR_INTERNAL", "internal error");
    return { valid: false, problem: e.message, code: e.code, keyStatus, revoked, caveats: [] };
  }
  const caveats = predicates.map((p) => checkCaveatOffline(p, nowMs));
  return {
    valid: caveats.every((c) => c.status !== "fails"),
    problem: null,
    code: null,
    keyStatus,
    revoked,
    caveats,
  };
}

function caveatLines(summary: MacaroonSummary): string[] {
  if (summary.caveats.length === 0) return ["  caveats:     (none)"];
  return [
    "  caveats:",
    ...summary.caveats.map((c) => {
      if (c.kind === "first-party") return `    ${c.predicate}`;
      if (c.kind === "first-party-binary") return `    (binary) ${c.base64}`;
      return `    third-party: ${c.identifier}${c.location === undefined ? "" : ` at ${c.location}`}`;
    }),
  ];
}

export function renderReport(report: InspectReport): string {
  const lines: string[] = [];
  for (const m of report.macaroons) {
    lines.push(`${m.role === "root" ? "macaroon" : "discharge"}${m.format ? ` (${m.format})` : ""}`);
    lines.push(`  location:    ${m.location ?? "(none)"}`);
    lines.push(`  identifier:  ${m.identifier}`);
    if (m.keyId !== undefined) lines.push(`  key id:      ${m.keyId}`, `  nonce:       ${m.nonce}`);
    lines.push(...caveatLines(m));
  }
  lines.push(`expires:       ${report.expires ?? "never"}`);
  const v = report.verification;
  if (v !== undefined) {
    lines.push(`key:           ${v.keyStatus}${v.revoked ? " (token revoked)" : ""}`);
    if (v.problem !== null) {
      lines.push(`verification:  INVALID: ${v.problem}`);
    } else {
      lines.push(`verification:  ${v.valid ? "valid" : "INVALID: a caveat fails"}`);
      for (const c of v.caveats) lines.push(`  ${c.status.padEnd(11)} ${c.caveat}: ${c.reason}`);
    }
  }
  return lines.join("\n") + "\n";
}
