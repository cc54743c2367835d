/**
 * `agent install` / `agent uninstall` (and, through doctor.ts, `agent doctor`): set a host up to run the agent
 * under systemd in front of dockerd, and take it away again without leaving dockerd pointed at a plugin that
 * is gone. The plan is pure (src/install/); this file reads the host, prints, and carries the plan out.
 */
import type { CAC } from "cac";
import { AgentError } from "../errors.ts";
import {
  applySteps,
  describeStep,
  dockerUnitFlags,
  type HostPaths,
  type InstallFacts,
  planInstall,
  planUninstall,
  PLUGIN_NAME,
  policyDir,
  type Step,
  underPrefix,
  type UninstallFacts,
  UNIT_NAME,
} from "../install/index.ts";
import { loadPolicy } from "../policy/index.ts";
import { joinPath } from "../store/path.ts";
import type { CliContext, ExitCode } from "./context.ts";
import { addDoctorCommand, singleOption } from "./doctor.ts";

/** As cac parses them: a repeated flag arrives as a list. */
interface InstallCliOptions {
  readonly dryRun?: boolean;
  readonly prefix?: unknown;
  readonly configureDocker?: boolean;
  readonly policy?: unknown;
  readonly binary?: unknown;
}

interface UninstallCliOptions {
  readonly dryRun?: boolean;
  readonly prefix?: unknown;
  readonly configureDocker?: boolean;
  readonly purge?: boolean;
}

/** The running executable, on Linux. */
const SELF_EXECUTABLE = "/proc/self/exe";
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
/** Targets `systemctl enable` links the unit into (its WantedBy=). */
const ENABLE_TARGETS = ["multi-user.target.wants", "docker.service.wants"];

function hostPaths(option: unknown): HostPaths {
  const prefix = singleOption(option, "--prefix");
  if (prefix === undefined) return underPrefix("/");
  if (!prefix.startsWith("/")) {
    throw new AgentError("ERR_USAGE", "--prefix needs an absolute directory (e.g. --prefix /mnt/image)");
  }
  return underPrefix(prefix);
}

async function readOptional(ctx: CliContext, path: string): Promise<string | undefined> {
  const info = await ctx.fs.stat(path);
  return info && !info.isDirectory ? await ctx.fs.readText(path) : undefined;
}

/** The executable to install: --binary, or this very executable when it is the compiled agent. */
async function executable(ctx: CliContext, binary: string | undefined): Promise<Uint8Array> {
  if (binary === undefined && ctx.build.version.endsWith("-dev")) {
    // From source /proc/self/exe is the JavaScript runtime, not the agent.
    throw new AgentError(
      "ERR_INSTALL",
      "this agent runs from source, not as the compiled executable: build it (scripts/build) and run " +
        "dist/agent install, or pass --binary dist/agent",
    );
  }
  const path = binary ?? SELF_EXECUTABLE;
  const info = await ctx.fs.stat(path);
  if (!info || info.isDirectory) throw new AgentError("ERR_INSTALL", `no executable at ${path}`);
  const bytes = await ctx.fs.readBytes(path);
  if (!ELF_MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw new AgentError("ERR_INSTALL", `${path} is not a Linux executable (scripts/build makes dist/agent)`);
  }
  return bytes;
}

async function installFacts(
  ctx: CliContext,
  paths: HostPaths,
  options: InstallCliOptions,
): Promise<InstallFacts> {
  const binary = await executable(ctx, singleOption(options.binary, "--binary"));
  const policyFile = singleOption(options.policy, "--policy");
  const installed = await ctx.fs.stat(paths.binary);
  const dockerConfig = await ctx.fs.stat(paths.dockerConfig);
  let newPolicy: InstallFacts["newPolicy"];
  if (policyFile !== undefined) {
    const text = await ctx.fs.readText(policyFile);
    loadPolicy(text, policyFile); // refuses an invalid policy before anything changes
    newPolicy = { text, source: policyFile };
  }
  return {
    binary,
    installedBinary: installed?.size === binary.length ? await ctx.fs.readBytes(paths.binary) : undefined,
    unitText: await readOptional(ctx, paths.unit),
    policyText: await readOptional(ctx, paths.policy),
    newPolicy,
    stateDir: await ctx.fs.stat(paths.stateDir),
    dockerConfigText: await readOptional(ctx, paths.dockerConfig),
    dockerConfigMode: dockerConfig?.mode,
    dockerFlags: await dockerUnitFlags(ctx.fs, paths.systemdDir),
  };
}

async function carryOut(ctx: CliContext, steps: readonly Step[], dryRun: boolean): Promise<void> {
  if (dryRun) {
    ctx.output.out("Dry run: nothing was changed. These steps would run:\n");
    for (const step of steps) ctx.output.out(`  ${describeStep(step)}\n`);
    return;
  }
  await applySteps(ctx.fs, steps, (step) => ctx.output.out(`  ${describeStep(step)}\n`));
}

/** A policy that does not load keeps the agent from starting: say so now rather than at systemctl start. */
async function warnIfPolicyBroken(ctx: CliContext, paths: HostPaths, dryRun: boolean): Promise<void> {
  const text = await readOptional(ctx, paths.policy);
  if (text === undefined || dryRun) return;
  try {
    loadPolicy(text, paths.policy);
  } catch (err) {
    const why = err instanceof AgentError ? err.message : "it does not load";
    ctx.output.err(`agent: warning: ${why}; the agent will not start until the policy is fixed\n`);
  }
}

export async function install(ctx: CliContext, options: InstallCliOptions): Promise<ExitCode> {
  const paths = hostPaths(options.prefix);
  const dryRun = options.dryRun === true;
  const facts = await installFacts(ctx, paths, options);
  const plan = planInstall(paths, facts, { configureDocker: options.configureDocker === true });
  await carryOut(ctx, plan.steps, dryRun);
  await warnIfPolicyBroken(ctx, paths, dryRun);

  const entry = `"authorization-plugins": ["${PLUGIN_NAME}"]`;
  const lines: string[] = [""];
  if (plan.docker.state === "configured") {
    lines.push(`dockerd already uses the plugin (${plan.docker.where}).`);
  }
  if (plan.docker.state === "configuring") {
    lines.push(`dockerd ${dryRun ? "would be" : "is now"} configured with ${entry} in ${plan.docker.where}.`);
  }
  if (plan.docker.state === "not-configured") {
    lines.push(
      `dockerd is not configured to use the plugin yet. Add this to ${plan.docker.where}`,
      "(or run agent install --configure-docker):",
      "",
      `  ${entry}`,
    );
  }
  lines.push(
    "",
    "Then, in this order (dockerd exits at start when its plugin is not running):",
    "  systemctl daemon-reload",
    `  systemctl enable --now ${UNIT_NAME}`,
    "  systemctl reload docker      # applies authorization-plugins; containers keep running",
    "  agent doctor",
    "",
  );
  ctx.output.out(lines.join("\n"));
  return 0;
}

async function existing(ctx: CliContext, path: string): Promise<boolean> {
  return (await ctx.fs.stat(path)) !== undefined;
}

async function uninstallFacts(ctx: CliContext, paths: HostPaths): Promise<UninstallFacts> {
  const enableLinks: string[] = [];
  for (const target of ENABLE_TARGETS) {
    const dir = joinPath(paths.systemdDir, target);
    // list, not stat: the links point at /etc/systemd/system/agent.service, outside a --prefix.
    if ((await ctx.fs.list(dir)).includes(UNIT_NAME)) enableLinks.push(joinPath(dir, UNIT_NAME));
  }
  const dockerConfig = await ctx.fs.stat(paths.dockerConfig);
  return {
    binaryExists: await existing(ctx, paths.binary),
    unitExists: await existing(ctx, paths.unit),
    enableLinks,
    dockerConfigText: await readOptional(ctx, paths.dockerConfig),
    dockerConfigMode: dockerConfig?.mode,
    dockerFlags: await dockerUnitFlags(ctx.fs, paths.systemdDir),
    stateDirExists: await existing(ctx, paths.stateDir),
    policyDirExists: await existing(ctx, policyDir(paths)),
  };
}

export async function uninstall(ctx: CliContext, options: UninstallCliOptions): Promise<ExitCode> {
  const paths = hostPaths(options.prefix);
  const dryRun = options.dryRun === true;
  const facts = await uninstallFacts(ctx, paths);
  const steps = planUninstall(paths, facts, {
    configureDocker: options.configureDocker === true,
    purge: options.purge === true,
  });
  if (steps.every((step) => step.kind === "keep")) {
    ctx.output.out("The agent is not installed here: nothing to remove.\n");
    for (const step of steps) ctx.output.out(`  ${describeStep(step)}\n`);
    return 0;
  }
  await carryOut(ctx, steps, dryRun);
  const dockerChanged = steps.some((step) => step.kind === "write" && step.path === paths.dockerConfig);
  ctx.output.out(
    [
      "",
      "Then, in this order:",
      ...(dockerChanged ? ["  systemctl reload docker      # dockerd stops calling the plugin"] : []),
      `  systemctl stop ${UNIT_NAME}`,
      "  systemctl daemon-reload",
      "",
    ].join("\n"),
  );
  return 0;
}

const EXIT_CODES =
  "Exit codes: 0 done, 1 failure or refusal (reason on stderr; a refusal changes nothing), 2 usage error.";

/** Adds install, uninstall and doctor to the top-level commands (serve.ts calls this). */
export function addInstallCommands(cli: CAC, ctx: CliContext): CAC {
  cli
    .command("install", "Install this executable as a systemd service in front of dockerd")
    .option("--dry-run", "Print every step and change nothing")
    .option("--prefix <dir>", "Install under this root directory instead of / (an image being built)")
    .option("--configure-docker", `Add "${PLUGIN_NAME}" to authorization-plugins in /etc/docker/daemon.json`)
    .option(
      "--policy <file>",
      "Install this policy as /etc/agent/policy.yaml (checked first; replaces one there)",
    )
    .option("--binary <path>", "Install this executable instead of the running one (e.g. dist/agent)")
    .usage(
      "install [--dry-run] [--prefix DIR] [--configure-docker] [--policy FILE] [--binary PATH]\n\n" +
        "Copies the executable to /usr/local/bin/agent (0755, atomically), writes the hardened unit\n" +
        "/etc/systemd/system/agent.service (starts before docker.service, which wants it), creates the state\n" +
        "directory /var/lib/agent (0700) and, when none exists, /etc/agent/policy.yaml: a safe default where\n" +
        "only the local unix socket may do anything. With --configure-docker it merges\n" +
        `"authorization-plugins": ["${PLUGIN_NAME}"] into /etc/docker/daemon.json (every other setting kept;\n` +
        "a malformed file is refused untouched); without it, it prints the entry to add. It does not run\n" +
        "systemctl: it prints the commands to run next.\n\n" +
        EXIT_CODES,
    )
    .example("sudo ./agent install --configure-docker")
    .example("sudo ./agent install --dry-run --policy ./policy.yaml")
    .action((options: InstallCliOptions) => install(ctx, options));

  cli
    .command("uninstall", "Remove the agent's executable and unit; refuse while dockerd still uses it")
    .option("--dry-run", "Print every step and change nothing")
    .option("--prefix <dir>", "Uninstall from this root directory instead of /")
    .option(
      "--configure-docker",
      `Remove "${PLUGIN_NAME}" from authorization-plugins in /etc/docker/daemon.json`,
    )
    .option("--purge", "Also remove /etc/agent and the state directory (keys, the CA and its key, audit log)")
    .usage(
      "uninstall [--dry-run] [--prefix DIR] [--configure-docker] [--purge]\n\n" +
        "Removes /usr/local/bin/agent, the unit and its enable links. dockerd refuses every API call, and\n" +
        "will not start again, while it is configured with a plugin that is gone: when daemon.json still\n" +
        `lists "${PLUGIN_NAME}", uninstall removes the entry (--configure-docker) or changes nothing and says\n` +
        "how to fix it. The policy and the state directory stay unless --purge.\n\n" +
        EXIT_CODES,
    )
    .example("sudo agent uninstall --configure-docker")
    .example("sudo agent uninstall --configure-docker --purge --dry-run")
    .action((options: UninstallCliOptions) => uninstall(ctx, options));

  addDoctorCommand(cli, ctx);
  return cli;
}
