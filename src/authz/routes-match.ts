/**
 * Method + path (+ query) -> action and resources, for every Docker Engine API call. Runs twice per call
 * (AuthZReq and AuthZRes), so the table is compiled once at load into per-method maps keyed by the first and
 * then the last path segment; a call does one clean-path scan, two table lookups and one or two matchers.
 */
import type { ResourceKind, RouteEffect, RouteInfo, RouteMatch } from "./routes-types.ts";
import { compilePattern, type PathMatcher } from "./routes-pattern.ts";
import { SegmentTable } from "./routes-segment-table.ts";
import { isDotSegment } from "./uri.ts";
import { ROUTES, type RouteSpec } from "./routes-table.ts";

/** Every field always present, so the hot loop sees one object shape. */
interface CompiledRoute {
  readonly action: string;
  readonly when: RouteSpec["when"];
  readonly query: RouteSpec["query"];
  readonly match: PathMatcher;
  /** Resource kind for each parameter value, in template order; undefined drops the value. */
  readonly kinds: readonly (ResourceKind | undefined)[];
  readonly effect: RouteEffect;
}

/** The routes one (method, first segment) can reach, split again by the path's last segment. */
interface Bucket {
  readonly byLastSegment: SegmentTable<readonly CompiledRoute[]>;
  /** For a last segment no route ends with: only the routes a parameter ends. */
  readonly otherLastSegment: readonly CompiledRoute[];
}

interface MethodIndex {
  readonly byFirstSegment: SegmentTable<Bucket>;
  /** For a first segment no route starts with: only the routes that match any path. */
  readonly otherFirstSegment: Bucket;
}

interface IndexedRoute extends CompiledRoute {
  readonly method: string;
  readonly firstSegment: string | undefined;
  readonly lastSegment: string | undefined;
}

function compileRoute(spec: RouteSpec): IndexedRoute {
  const pattern = compilePattern(spec.pattern);
  return {
    action: spec.action,
    when: spec.when,
    query: spec.query,
    match: pattern.match,
    kinds: pattern.paramNames.map((name) => spec.params?.[name]),
    effect: spec.effect,
    firstSegment: pattern.firstSegment,
    lastSegment: pattern.lastSegment,
    method: spec.method,
  };
}

/**
 * Groups `routes` by a literal segment, keeping registration order inside each group: a route whose segment
 * is a parameter (undefined) can match any path, so it joins every group and the fallback.
 */
function groupBy<T>(
  routes: readonly IndexedRoute[],
  segmentOf: (route: IndexedRoute) => string | undefined,
  build: (group: readonly IndexedRoute[]) => T,
): { readonly groups: ReadonlyMap<string, T>; readonly other: T } {
  const groups = new Map<string, T>();
  for (const route of routes) {
    const segment = segmentOf(route);
    if (segment === undefined || groups.has(segment)) continue;
    groups.set(segment, build(routes.filter((r) => segmentOf(r) === segment || segmentOf(r) === undefined)));
  }
  return { groups, other: build(routes.filter((r) => segmentOf(r) === undefined)) };
}

function buildBucket(routes: readonly IndexedRoute[]): Bucket {
  const { groups, other } = groupBy(routes, (route) => route.lastSegment, (group) => group);
  return { byLastSegment: new SegmentTable(groups), otherLastSegment: other };
}

/**
 * HEAD is routed wherever GET is (Go's net/http convention; the docker CLI opens with HEAD /_ping): its routes
 * are the HEAD and GET ones, still in registration order. gorilla/mux itself registers HEAD only for /_ping and
 * the archive stat, so the others never reach a plugin; routing them as their GET (with the GET route's
 * effect: HEAD of the websocket attach is a write too) costs nothing.
 */
function buildIndex(method: RouteSpec["method"]): MethodIndex {
  const accepts = method === "HEAD" ? ["HEAD", "GET"] : [method];
  const routes = COMPILED.filter((route) => accepts.includes(route.method));
  const { groups, other } = groupBy(routes, (route) => route.firstSegment, buildBucket);
  return { byFirstSegment: new SegmentTable(groups), otherFirstSegment: other };
}

const COMPILED = ROUTES.map(compileRoute);
const GET = buildIndex("GET");
const HEAD = buildIndex("HEAD");
const POST = buildIndex("POST");
const PUT = buildIndex("PUT");
const DELETE = buildIndex("DELETE");
const OPTIONS = buildIndex("OPTIONS");

/** A switch compares the method's characters; a Map would hash a string fresh from JSON on every call. */
function indexFor(method: string): MethodIndex | undefined {
  switch (method) {
    case "GET":
      return GET;
    case "HEAD":
      return HEAD;
    case "POST":
      return POST;
    case "PUT":
      return PUT;
    case "DELETE":
      return DELETE;
    case "OPTIONS":
      return OPTIONS;
    default:
      return undefined;
  }
}

const SLASH = 0x2f;

/**
 * gorilla/mux answers a path with "//", "/./" or "/../" by a redirect (it never reaches a handler), and no
 * Docker name holds a control character: such a path routes nowhere. A trailing slash is kept for the few
 * routes registered with one ("/networks/").
 */
function isCleanPath(path: string): boolean {
  if (path.charCodeAt(0) !== SLASH) return false;
  for (let at = 0; at < path.length; at++) {
    const code = path.charCodeAt(at);
    if (code < 0x20 || code === 0x7f) return false;
    if (code !== SLASH) continue;
    const next = at + 1;
    if (next < path.length && path.charCodeAt(next) === SLASH) return false;
    if (isDotSegment(path, next)) return false;
  }
  return true;
}

/**
 * The route moby would dispatch `method path` to, or undefined when it has none (the caller denies).
 * `method` is upper-case; `path` is percent-decoded, without the "/vX.Y" prefix and without the query string.
 */
export function matchRoute(
  method: string,
  path: string,
  // A function when the query is parsed on demand (authz/uri.ts): most routes never read it.
  query: URLSearchParams | (() => URLSearchParams),
): RouteMatch | undefined {
  const queryOf = () => typeof query === "function" ? query() : query;
  const methodIndex = indexFor(method);
  if (methodIndex === undefined || !isCleanPath(path)) return undefined;
  const slash = path.indexOf("/", 1);
  const bucket = methodIndex.byFirstSegment.get(path, 1, slash === -1 ? path.length : slash) ??
    methodIndex.otherFirstSegment;
  const candidates = bucket.byLastSegment.get(path, path.lastIndexOf("/") + 1, path.length) ??
    bucket.otherLastSegment;
  for (let r = 0; r < candidates.length; r++) {
    const route = candidates[r] as CompiledRoute;
    const values = route.match(path);
    if (values === undefined) continue;
    if (route.when !== undefined && !route.when(queryOf())) continue;
    const resources: Partial<Record<ResourceKind, string>> = {};
    for (let i = 0; i < values.length; i++) {
      const kind = route.kinds[i];
      if (kind !== undefined) resources[kind] = values[i] as string;
    }
    if (route.query !== undefined) route.query(queryOf(), resources);
    return { action: route.action, resources, effect: route.effect };
  }
  return undefined;
}

const ROUTE_INFOS: readonly RouteInfo[] = Object.freeze(
  ROUTES.map(({ method, pattern, action, effect, description }) =>
    Object.freeze({ method, pattern, action, effect, description })
  ),
);

const ACTION_NAMES: readonly string[] = Object.freeze(
  [...new Set(ROUTES.map((route) => route.action))].sort(),
);

/** Every registered route, in moby's registration order. */
export function listRoutes(): readonly RouteInfo[] {
  return ROUTE_INFOS;
}

/** Every action name, sorted and unique. */
export function actionNames(): readonly string[] {
  return ACTION_NAMES;
}
