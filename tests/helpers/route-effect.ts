/** The route table's effect for an action (each action has one effect; tests/unit/authz/routes.test.ts checks). */
import { listRoutes, type RouteEffect } from "../../src/authz/routes.ts";

const EFFECTS = new Map<string, RouteEffect>(listRoutes().map((r) => [r.action, r.effect]));

export function effectOf(action: string | undefined): RouteEffect | undefined {
  return action === undefined ? undefined : EFFECTS.get(action);
}
