/** Fixtures for the macaroon gate tests: a fake daemon resolver, request facts, keyrings and tokens. */
import type { Phase } from "../../../src/authz/wire.ts";
import { buildFacts, isDecision } from "../../../src/decide/decide.ts";
import type { RequestFacts } from "../../../src/decide/facts.ts";
import type { DockerResolver } from "../../../src/docker/resolver.ts";
import type { Clock } from "../../../src/ports.ts";
import { seededRandom } from "../../helpers/fixtures.ts";
export { seededRandom };

export const WEB_ID = "3f2a9c".padEnd(64, "1");
export const DB_ID = "9b1e77".padEnd(64, "2");
export const TINY_ID = `sha256:${"c0ffee".padEnd(64, "3")}`;
export const OTHER_IMAGE_ID = `sha256:${"beef00".padEnd(64, "4")}`;
export const EXEC_IN_WEB = "e1".padEnd(64, "5");
export const EXEC_IN_DB = "e2".padEnd(64, "6");

/** A clock the test moves by hand. */
export function movableClock(iso = "2026-03-01T12:00:00.000Z"): Clock & { advance(seconds: number): void } {
  let now = Date.parse(iso);
  const clock = (() => new Date(now)) as Clock & { advance(seconds: number): void };
  clock.advance = (seconds) => {
    now += seconds * 1000;
  };
  return clock;
}

export interface FakeDaemon extends DockerResolver {
  lookups: number;
  /** Lookups never answer (a stuck daemon). */
  hang: boolean;
  /** Lookups fail as if the daemon were unreachable. */
  down: boolean;
  removeContainer(ref: string): void;
}

/** What `docker inspect` would answer on a host with containers web and db, images tiny and other. */
export function fakeDaemon(): FakeDaemon {
  const containers = new Map<string, string>([
    ["web", WEB_ID],
    ["3f2a9c", WEB_ID],
    [WEB_ID, WEB_ID],
    ["db", DB_ID],
    ["9b1e77", DB_ID],
    [DB_ID, DB_ID],
  ]);
  const images = new Map<string, string>([
    ["tiny:latest", TINY_ID],
    ["tiny", TINY_ID],
    [TINY_ID, TINY_ID],
    ["c0ffee", TINY_ID],
    ["other:1", OTHER_IMAGE_ID],
  ]);
  const execs = new Map<string, string>([[EXEC_IN_WEB, WEB_ID], [EXEC_IN_DB, DB_ID]]);
  const daemon: FakeDaemon = {
    lookups: 0,
    hang: false,
    down: false,
    removeContainer(ref) {
      const id = containers.get(ref);
      for (const [k, v] of [...containers]) if (v === id) containers.delete(k);
    },
    resolveContainer: (ref) => answer(containers.get(ref)),
    resolveImage: (ref) => answer(images.get(ref)),
    containerOfExec: (id) => answer(execs.get(id)),
  };
  function answer(value: string | undefined): Promise<string | undefined> {
    daemon.lookups++;
    if (daemon.hang) return new Promise(() => {});
    if (daemon.down) return Promise.reject(new Error("connect ENOENT /var/run/docker.sock"));
    return Promise.resolve(value);
  }
  return daemon;
}

export interface FactOptions {
  readonly token?: string;
  readonly body?: unknown;
  readonly phase?: Phase;
  /** The TLS user dockerd reports (default: none, the unix socket). */
  readonly user?: string;
  /** More request headers, as dockerd sends them (canonical names, lists of values). */
  readonly headers?: Readonly<Record<string, string[]>>;
}

/** RequestFacts exactly as the plugin builds them from a dockerd AuthZReq/AuthZRes payload. */
export function facts(method: string, uri: string, options: FactOptions = {}): RequestFacts {
  const headers: Record<string, string[]> = {
    "User-Agent": ["Docker-Client/28.2.2 (linux)"],
    ...options.headers,
  };
  const request: Record<string, unknown> = {
    RequestMethod: method,
    RequestUri: uri,
    RequestHeaders: headers,
  };
  if (options.user !== undefined) {
    request["User"] = options.user;
    request["UserAuthNMethod"] = "TLS";
  }
  if (options.token !== undefined) headers["X-Macaroon"] = [options.token];
  if (options.body !== undefined) {
    headers["Content-Type"] = ["application/json"];
    const utf8 = new TextEncoder().encode(JSON.stringify(options.body));
    request["RequestBody"] = btoa(String.fromCharCode(...utf8));
  }
  const built = buildFacts(JSON.stringify(request), options.phase ?? "request");
  if (isDecision(built)) throw new Error(`test request refused: ${built.reason}`);
  return built;
}
