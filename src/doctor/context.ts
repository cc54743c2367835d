/** What the doctor looks at and with what. */
import type { Clock, FileSystem, Platform } from "../ports.ts";

export interface DoctorTarget {
  readonly stateDir: string;
  readonly policy: string;
  readonly socket: string;
  /** dockerd's daemon.json; the plugin spec directory and the systemd directory are found beside it. */
  readonly dockerConfig: string;
  /** The running dockerd's unix socket, asked GET /info for the authorization plugins it really uses. */
  readonly dockerSocket: string;
  readonly auditLog: string;
}

export interface DoctorDeps {
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly unixFetch: Platform["unixFetch"];
  /** This executable's version, compared with the running agent's. */
  readonly version: string;
  /** The user running the doctor, when known: the owner the state should have. */
  readonly uid: number | undefined;
}

/** Certificates and CRLs expiring within this many days are warned about. */
export const EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 86_400_000;

export function daysUntil(date: Date, now: Date): number {
  return Math.floor((date.getTime() - now.getTime()) / DAY_MS);
}

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** "0700"-style mode text. */
export function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
