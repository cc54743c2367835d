/** The Docker Engine API route table: which action and resources each call names. */
export type { ResourceKind, RouteInfo, RouteMatch } from "./routes-types.ts";
export { actionNames, listRoutes, matchRoute } from "./routes-match.ts";
