/**
 * Turns dockerd's raw RequestUri into what routing and policy need. dockerd routes on the percent-decoded
 * path and serves unversioned paths too, so `/v1.41/containers%2Fcreate`, `/%63ontainers/create` and
 * `/containers/create` must all become the same path here, or a rule could be dodged.
 */
import { AgentError } from "../errors.ts";

export interface NormalizedUri {
  /** Percent-decoded path without the `/vX.Y` prefix, e.g. `/containers/create`. */
  readonly path: string;
  /** API version from the prefix (`1.41`), undefined when the client sent none. */
  readonly version: string | undefined;
  readonly query: URLSearchParams;
  /** Percent-decoded URI as sent (with version prefix and query): what seed-style regex rules see. */
  readonly decoded: string;
}

// moby routes `/v{version:[0-9.]+}`.
const VERSION_PREFIX = /^\/v([0-9.]+)(?=\/)/;
/** Longest RequestUri accepted; the Engine API has no legitimate use for more. */
export const MAX_URI_LENGTH = 16 * 1024;

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new AgentError("ERR_REQUEST_URI", "request URI has invalid percent-encoding");
  }
}

export function normalizeUri(raw: string): NormalizedUri {
  if (raw.length === 0 || raw.length > MAX_URI_LENGTH || raw.charCodeAt(0) !== 0x2f /* "/" */) {
    throw new AgentError("ERR_REQUEST_URI", "request URI is missing, too long or not a path");
  }
  const q = raw.indexOf("?");
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const rawQuery = q < 0 ? "" : raw.slice(q + 1);
  const decodedPath = rawPath.includes("%") ? decode(rawPath) : rawPath;
  // dockerd answers non-clean paths with a redirect and never asks the plugin; seeing one here is an attack.
  if (!isCleanPath(decodedPath)) throw new AgentError("ERR_REQUEST_URI", "request path is not clean");
  const match = VERSION_PREFIX.exec(decodedPath);
  const path = match ? decodedPath.slice(match[0].length) : decodedPath;
  const decodedQuery = rawQuery.includes("%") ? safeDecode(rawQuery) : rawQuery;
  // Parsed when a route or a gate first asks (most requests' routes never read their query).
  let query: URLSearchParams | undefined;
  return {
    path,
    version: match?.[1],
    get query() {
      return (query ??= new URLSearchParams(rawQuery));
    },
    decoded: rawQuery.length > 0 ? `${decodedPath}?${decodedQuery}` : decodedPath,
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const SLASH = 0x2f;
const DOT = 0x2e;

/** The character at `at` ends a segment (a slash or the end of the path). */
function endsSegment(path: string, at: number): boolean {
  return at >= path.length || path.charCodeAt(at) === SLASH;
}

/** Whether the segment starting at `at` is "." or ".." (also the route matcher's check: routes-match.ts). */
export function isDotSegment(path: string, at: number): boolean {
  if (path.charCodeAt(at) !== DOT) return false;
  if (endsSegment(path, at + 1)) return true;
  return path.charCodeAt(at + 1) === DOT && endsSegment(path, at + 2);
}

/** No "//", no NUL, no "." or ".." segment (scanned in place: this runs on every request). */
function isCleanPath(path: string): boolean {
  if (path.includes("//") || path.includes("\0")) return false;
  if (isDotSegment(path, 0)) return false;
  for (let slash = path.indexOf("/."); slash !== -1; slash = path.indexOf("/.", slash + 1)) {
    if (isDotSegment(path, slash + 1)) return false;
  }
  return true;
}
