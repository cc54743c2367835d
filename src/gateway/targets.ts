/**
 * Which requests on the listener are the gateway's: everything that is not the HTTPS API's (`/api/...`) or
 * the console's (`/console`, `/console/...`).
 * Engine API paths (`/_ping`, `/v1.41/containers/json`, `/containers/json`) never start with `/api`, so the
 * two never collide; anything else (an encoded `/%61pi/`, a path of no API) reaches the gateway, whose route
 * table refuses what it does not know.
 */
const API_TARGET = /^\/(?:api|console)(?:[/?#]|$)/;

export function isGatewayTarget(target: string): boolean {
  return target.startsWith("/") && !API_TARGET.test(target);
}
