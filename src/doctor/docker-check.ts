/**
 * Will dockerd call the agent? dockerd finds a legacy plugin NAME by its socket
 * (/run/docker/plugins/NAME.sock or NAME/NAME.sock) or by a spec file in /etc/docker/plugins (NAME.spec holding
 * unix:///path, or NAME.json with "Addr"), and calls it only when daemon.json's authorization-plugins (or a
 * --authorization-plugin flag) names it. The running dockerd says which plugins it really uses (GET /info):
 * a flag on its command line is in no file.
 */
import { isAgentError } from "../errors.ts";
import { authorizationPlugins, dockerUnitFlags, type FlagSource } from "../install/index.ts";
import { baseName, dirName, joinPath } from "../store/path.ts";
import type { DoctorDeps, DoctorTarget } from "./context.ts";
import { askDaemon, refusal } from "./daemon-info.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

const PLUGIN_SOCKET_DIR = "/run/docker/plugins";

function canonical(path: string): string {
  return path.replace(/^\/var\/run\//, "/run/");
}

/** Names dockerd would find the socket under without a spec file. */
function namesFromSocketPath(socket: string): string[] {
  const path = canonical(socket);
  const file = baseName(path);
  if (!file.endsWith(".sock")) return [];
  const name = file.slice(0, -".sock".length);
  const dir = dirName(path);
  if (dir === PLUGIN_SOCKET_DIR) return [name];
  if (dirName(dir) === PLUGIN_SOCKET_DIR && baseName(dir) === name) return [name];
  return [];
}

function specAddress(name: string, text: string): string | undefined {
  if (name.endsWith(".spec")) return text.trim();
  try {
    const addr = (JSON.parse(text) as { Addr?: unknown }).Addr;
    return typeof addr === "string" ? addr : undefined;
  } catch {
    return undefined;
  }
}

/** Names of spec files in `specDir` that point at `socket`. */
async function namesFromSpecs(deps: DoctorDeps, specDir: string, socket: string): Promise<string[]> {
  const want = canonical(socket);
  const names: string[] = [];
  for (const file of await deps.fs.list(specDir)) {
    const match = /^(.+)\.(spec|json)$/.exec(file);
    if (!match?.[1]) continue;
    const path = joinPath(specDir, file);
    const info = await deps.fs.stat(path);
    if (!info || info.isDirectory || info.size > 4096) continue;
    const address = specAddress(file, await deps.fs.readText(path));
    if (address?.startsWith("unix://") && canonical(address.slice("unix://".length)) === want) {
      names.push(match[1]);
    }
  }
  return names;
}

export async function checkDockerConfig(deps: DoctorDeps, target: DoctorTarget): Promise<Finding> {
  const file = target.dockerConfig;
  const etc = dirName(dirName(file)); // /etc/docker/daemon.json -> /etc
  const specDir = joinPath(dirName(file), "plugins");
  const names = [
    ...namesFromSocketPath(target.socket),
    ...(await namesFromSpecs(deps, specDir, target.socket)),
  ];

  let listed: readonly string[];
  try {
    listed = (await deps.fs.stat(file)) ? authorizationPlugins(await deps.fs.readText(file), file) : [];
  } catch (err) {
    return fail("docker", isAgentError(err) ? err.message : `${file} could not be read`);
  }
  const flags: FlagSource[] = await dockerUnitFlags(deps.fs, joinPath(etc, "systemd", "system"));
  const flagged = flags.flatMap((source) => source.plugins);
  if (listed.length > 0 && flags[0] !== undefined) {
    return fail(
      "docker",
      `both ${file} and ${
        flags[0].file
      } set authorization plugins: dockerd refuses to start. Keep one of them.`,
    );
  }
  const where = flags[0]?.file ?? file;
  const configured = [...listed, ...flagged];
  if (names.length === 0) {
    const stale = configured.length > 0 ? ` (dockerd is configured with ${configured.join(", ")})` : "";
    return fail(
      "docker",
      `dockerd cannot find the plugin${stale}: ${target.socket} is not in ${PLUGIN_SOCKET_DIR} and no spec file in ` +
        `${specDir} points to it.`,
    );
  }
  const inConfig = names.find((name) => configured.includes(name));
  const daemon = await askDaemon(deps, target.dockerSocket);
  const running = `the running dockerd at ${target.dockerSocket}`;
  const origin = (name: string) =>
    name === inConfig
      ? where
      : `given on its command line; neither ${file} nor a docker.service unit names it`;
  const addIt = `"authorization-plugins": ["${names[0]}"] to ${file} ` +
    "(agent install --configure-docker does it), then reload dockerd";

  if (daemon.kind === "chain") {
    const used = names.find((name) => daemon.plugins.includes(name));
    if (used !== undefined) {
      const others = chain(daemon.plugins, used);
      return ok("docker", `${running} uses the plugin "${used}" (${origin(used)})${others}.`);
    }
    const has = daemon.plugins.length > 0
      ? `uses only ${daemon.plugins.join(", ")}`
      : "uses no authorization plugin";
    if (inConfig !== undefined) {
      return fail(
        "docker",
        `${where} names the plugin "${inConfig}", but ${running} ${has}, so nothing is enforced: reload ` +
          "dockerd (systemctl reload docker; restart it for a flag in a docker.service unit).",
      );
    }
    return fail(
      "docker",
      `dockerd does not use the plugin, so nothing is enforced: ${running} ${has}. Add ${addIt}.`,
    );
  }
  if (daemon.kind === "refused" && names.includes(daemon.plugin)) {
    const used = daemon.plugin;
    return ok(
      "docker",
      `${running} uses the plugin "${used}" (${origin(used)}): it refused the doctor's own GET /info, so ` +
        "dockerd asks it.",
    );
  }
  const why = daemon.kind === "refused"
    ? `the plugin ${daemon.plugin} refused the doctor's GET /info: ${refusal(daemon)}`
    : daemon.why;
  const elsewhere = "(--docker-socket PATH, or DOCKER_HOST=unix://PATH, asks another dockerd)";
  if (inConfig !== undefined) {
    return warn(
      "docker",
      `dockerd is configured to use the plugin "${inConfig}" (${where})${chain(configured, inConfig)}, but ` +
        `whether the running dockerd does is unknown: ${why} ${elsewhere}.`,
    );
  }
  const flag = `--authorization-plugin=${names[0]}`;
  return warn(
    "docker",
    `neither ${file} nor a docker.service unit names the plugin, and whether the running dockerd uses it ` +
      `is unknown: ${why} ${elsewhere}. Unless dockerd runs with ${flag}, nothing is enforced: add ` +
      `${addIt}.`,
  );
}

function chain(plugins: readonly string[], used: string): string {
  const others = plugins.filter((name) => name !== used);
  return others.length > 0 ? `; together with ${others.join(", ")} (every plugin must allow)` : "";
}
