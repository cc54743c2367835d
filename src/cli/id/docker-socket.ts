/** Which unix socket reaches the local Docker daemon: --docker-socket, else $DOCKER_HOST when it is unix://. */
import type { Env } from "../../ports.ts";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export function dockerSocketPath(option: unknown, env: Env): string {
  if (typeof option === "string" && option.length > 0) return option;
  const host = env["DOCKER_HOST"];
  if (host !== undefined && host.startsWith("unix://") && host.length > "unix://".length) {
    return host.slice("unix://".length);
  }
  return DEFAULT_DOCKER_SOCKET;
}
