/** The Docker Engine API route table: which action and resources each call names. */
export type { ResourceKind, RouteEffect, RouteInfo, RouteMatch } from "./routes-types.ts";
export { actionNames, listRoutes, matchRoute } from "./routes-match.ts";
export { asksForUpgrade, requestEffect } from "./effect.ts";
