/**
 * `agent fleet ...`: make a host's state the fleet's (init), hand a new host what it needs to join
 * (add-host), join (join), publish a policy to every host (publish-policy) and see the fleet (status).
 * The shared state lives in etcd under one prefix (src/fleet/keys.ts); every member's `agent serve`
 * follows it into its own state directory and decides from there.
 */
import { cac } from "cac";
import { issueCertificate } from "../ca/index.ts";
import { AgentError } from "../errors.ts";
import { addHostUser, hostRoleOf, setUpAuth } from "../fleet/auth-setup.ts";
import { connectFleet, type FleetCredential } from "../fleet/connect.ts";
import { type EtcdClient, EtcdError } from "../fleet/etcd.ts";
import { FleetFollower } from "../fleet/follower.ts";
import { decodeBundle, encodeBundle } from "../fleet/join-bundle.ts";
import { DEFAULT_PREFIX, fleetKeys, WHOLE_PIECES } from "../fleet/keys.ts";
import {
  checkNodeName,
  ensureFleetKey,
  type FleetConfig,
  fleetFiles,
  loadFleetConfig,
  loadFleetKey,
  loadSnapshotRecord,
  parseEndpoints,
  saveFleetConfig,
  saveFleetKey,
  saveSnapshotRecord,
} from "../fleet/membership.ts";
import { fleetWriteError, localPiece, publishPiece, publishRevocations } from "../fleet/publish.ts";
import { decodeNode } from "../fleet/registry.ts";
import { loadRevocations } from "../macaroon/index.ts";
import { DEMO_POLICY, loadPolicy } from "../policy/index.ts";
import {
  PUBLIC_FILE_MODE,
  SECRET_DIR_MODE,
  SECRET_FILE_MODE,
  type StateLayout,
  stateLayout,
} from "../store/layout.ts";
import { joinPath } from "../store/path.ts";
import {
  absolutePath,
  type CliContext,
  DEFAULT_STATE_DIR,
  type ExitCode,
  resolveStateDir,
} from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { REPEATABLE } from "./option-kinds.ts";

interface FleetOptions {
  readonly stateDir?: string;
  readonly endpoints?: string;
  readonly prefix?: string;
  readonly name?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  readonly policy?: string;
  readonly demo?: boolean;
  readonly setupAuth?: boolean;
  readonly force?: boolean;
  readonly out?: string;
  readonly san?: string | string[];
  readonly days?: number | string;
  readonly json?: boolean;
}

function layoutOf(ctx: CliContext, options: FleetOptions): StateLayout {
  return stateLayout(resolveStateDir(options.stateDir, ctx.env));
}

async function membership(ctx: CliContext, layout: StateLayout): Promise<FleetConfig> {
  const files = fleetFiles(layout);
  const config = await loadFleetConfig(ctx.fs, files);
  if (config === undefined) {
    throw new AgentError(
      "ERR_FLEET_CONFIG",
      `${layout.root} is not a fleet member (no ${files.config}): run \`agent fleet init\` on the first host or \`agent fleet join BUNDLE\``,
    );
  }
  return config;
}

/** An operator's credential given with --cert/--key (and --ca), instead of the membership's. */
function credentialOf(ctx: CliContext, options: FleetOptions, config: FleetConfig): FleetCredential {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new AgentError(
      "ERR_USAGE",
      "give --cert and --key together (an etcd client certificate and its key)",
    );
  }
  return {
    cert: options.cert === undefined ? config.cert : absolutePath(ctx, options.cert),
    key: options.key === undefined ? config.key : absolutePath(ctx, options.key),
    ca: options.ca === undefined ? config.ca : absolutePath(ctx, options.ca),
  };
}

function say(ctx: CliContext, text: string): void {
  ctx.output.err(`${text}\n`);
}

async function withClient<T>(
  ctx: CliContext,
  config: FleetConfig,
  credential: FleetCredential,
  run: (client: EtcdClient) => Promise<T>,
): Promise<T> {
  const client = await connectFleet(ctx.fs, ctx.platform, config, credential);
  try {
    return await run(client);
  } catch (err) {
    // etcd's own errors become the agent's, in words (never a value or a credential).
    throw err instanceof EtcdError ? fleetWriteError(err, "the fleet's state") : err;
  } finally {
    client.close();
  }
}

/** `fleet init`: the first host's state becomes the fleet's. */
async function init(ctx: CliContext, options: FleetOptions): Promise<ExitCode> {
  const layout = layoutOf(ctx, options);
  const files = fleetFiles(layout);
  if (options.endpoints === undefined) {
    throw new AgentError("ERR_USAGE", "fleet init needs --endpoints https://etcd1:2379,...");
  }
  if (options.cert === undefined || options.key === undefined || options.ca === undefined) {
    throw new AgentError(
      "ERR_USAGE",
      "fleet init needs the operator's etcd credential: --cert FILE --key FILE (CN root) and --ca FILE",
    );
  }
  if ((options.policy === undefined) === (options.demo !== true)) {
    throw new AgentError(
      "ERR_USAGE",
      "give the fleet's policy: --policy FILE, or --demo for the embedded demo policy",
    );
  }
  const policyText = options.demo === true
    ? DEMO_POLICY
    : await ctx.fs.readText(options.policy!).catch(() => {
      throw new AgentError("ERR_POLICY_MISSING", `no policy file at ${options.policy}`);
    });
  loadPolicy(policyText, options.policy ?? "embedded demo policy"); // a policy that does not compile is never shared
  const config: FleetConfig = {
    endpoints: parseEndpoints(options.endpoints),
    prefix: fleetKeys(options.prefix ?? DEFAULT_PREFIX).prefix,
    name: checkNodeName(options.name ?? ctx.platform.hostNames().hostname),
    cert: absolutePath(ctx, options.cert),
    key: absolutePath(ctx, options.key),
    ca: absolutePath(ctx, options.ca),
  };
  const keys = fleetKeys(config.prefix);
  return await withClient(ctx, config, config, async (client) => {
    const existing = await client.get(keys.piece.policy);
    if (existing.kv !== undefined && options.force !== true) {
      throw new AgentError(
        "ERR_STATE_EXISTS",
        `the fleet ${config.prefix} already has a policy (etcd revision ${existing.kv.modRevision}): join it with a bundle from \`agent fleet add-host\`, or --force to replace its state with this host's`,
      );
    }
    const fleetKey = await ensureFleetKey(ctx.fs, files, ctx.random);
    await ctx.fs.mkdir(files.dir, SECRET_DIR_MODE);
    await ctx.fs.writeAtomic(files.policy, policyText, SECRET_FILE_MODE);
    const deps = {
      client,
      keys,
      publisher: { by: config.name, at: ctx.clock().toISOString() },
      fleetKey,
      random: ctx.random,
    };
    const applied: Record<string, number> = {};
    let revision = 0;
    const shared: string[] = [];
    for (const piece of WHOLE_PIECES) {
      const content = await localPiece(ctx.fs, layout, piece, files.policy);
      if (content === undefined) continue;
      revision = await publishPiece(deps, piece, content);
      applied[piece] = revision;
      shared.push(piece);
    }
    const revoked = (await loadRevocations(ctx.fs, layout)).revoked;
    revision = (await publishRevocations(client, keys, revoked.map((r) => ({ ...r, by: config.name })))) ||
      revision;
    if (options.setupAuth === true) await setUpAuth(client, keys);
    await saveFleetConfig(ctx.fs, files, config);
    await saveSnapshotRecord(ctx.fs, files, { revision, contactAt: ctx.clock().toISOString(), applied });
    ctx.output.out(
      `Fleet ${config.prefix} on ${config.endpoints.join(", ")}: shared ${shared.join(", ")}` +
        `${
          revoked.length > 0 ? ` and ${revoked.length} macaroon revocation(s)` : ""
        } (etcd revision ${revision}).\n`,
    );
    if (options.setupAuth === true) {
      ctx.output.out(
        `etcd auth is on: root (this credential) changes everything; hosts get role ${hostRoleOf(keys)}.\n`,
      );
    }
    ctx.output.out(
      "Next: restart `agent serve` here (it follows the fleet from now on), and for each host:\n" +
        "  agent fleet add-host NAME   (here; writes NAME.fleet.json)\n" +
        "  agent fleet join NAME.fleet.json && agent serve   (there)\n",
    );
    return 0;
  });
}

/** `fleet add-host NAME`: a node certificate, the host's etcd user, and the join bundle. */
async function addHost(ctx: CliContext, nameArg: unknown, options: FleetOptions): Promise<ExitCode> {
  const name = checkNodeName(String(nameArg));
  const layout = layoutOf(ctx, options);
  const files = fleetFiles(layout);
  const config = await membership(ctx, layout);
  const fleetKey = await loadFleetKey(ctx.fs, files);
  if (fleetKey === undefined) {
    throw new AgentError(
      "ERR_FLEET_CONFIG",
      `no fleet key at ${files.fleetKey}: run this on the host that ran \`agent fleet init\``,
    );
  }
  const out = absolutePath(ctx, options.out ?? `${name}.fleet.json`);
  if (options.force !== true && (await ctx.fs.stat(out))) {
    throw new AgentError("ERR_STATE_EXISTS", `${out} exists: remove it or pass --force`);
  }
  const keys = fleetKeys(config.prefix);
  // The node certificate's CN is the host's etcd user; issued into a private scratch directory, read, removed.
  const scratch = joinPath(files.dir, `.issue-${name}`);
  await ctx.fs.removeTree(scratch).catch(() => undefined);
  await ctx.fs.mkdir(scratch, SECRET_DIR_MODE);
  let certPem: string;
  let keyPem: string;
  let serial: string;
  try {
    const sans = options.san === undefined ? [] : Array.isArray(options.san) ? options.san : [options.san];
    const result = await issueCertificate(
      { fs: ctx.fs, clock: ctx.clock, random: ctx.random, caDir: layout.caDir },
      {
        kind: "node",
        name,
        subjectAltNames: sans,
        days: options.days === undefined ? undefined : Number(options.days),
      },
      { dir: scratch, dockerLayout: false, force: true },
    );
    certPem = await ctx.fs.readText(result.paths.certificate);
    keyPem = await ctx.fs.readText(result.paths.privateKey);
    serial = result.record.serial;
  } finally {
    await ctx.fs.removeTree(scratch).catch(() => undefined);
  }
  const caPem = await ctx.fs.readText(config.ca);
  await withClient(ctx, config, credentialOf(ctx, options, config), async (client) => {
    await addHostUser(client, keys, name);
  });
  await ctx.fs.writeAtomic(
    out,
    encodeBundle({
      endpoints: config.endpoints,
      prefix: config.prefix,
      name,
      caPem,
      certPem,
      keyPem,
      fleetKey,
    }),
    SECRET_FILE_MODE,
  );
  ctx.output.out(
    `Wrote ${out} (mode 0600): ${name}'s etcd certificate (serial ${serial}) and key, and the fleet key.\n` +
      `etcd user ${name} has role ${hostRoleOf(keys)} (read the fleet, add revocations).\n` +
      `Copy it and the agent to the host, run \`agent fleet join ${
        out.slice(out.lastIndexOf("/") + 1)
      }\` there, then delete the file.\n` +
      `To remove the host later: agent ca revoke ${name} --kind node (and etcdctl user delete ${name}).\n`,
  );
  return 0;
}

/** `fleet join BUNDLE`: installs the bundle and takes a first snapshot, so the agent can start from it. */
async function join(ctx: CliContext, bundlePath: unknown, options: FleetOptions): Promise<ExitCode> {
  const path = String(bundlePath);
  const layout = layoutOf(ctx, options);
  const files = fleetFiles(layout);
  const text = await ctx.fs.readText(path).catch(() => {
    throw new AgentError("ERR_FLEET_CONFIG", `cannot read the join bundle ${path}`);
  });
  const bundle = decodeBundle(text, path);
  const existing = await loadFleetConfig(ctx.fs, files).catch(() => undefined);
  if (existing !== undefined && options.force !== true) {
    throw new AgentError(
      "ERR_STATE_EXISTS",
      `${layout.root} is already a member of ${existing.prefix} as ${existing.name}: pass --force to join again`,
    );
  }
  if ((await ctx.fs.stat(joinPath(layout.caDir, "cluster.key"))) && options.force !== true) {
    throw new AgentError(
      "ERR_STATE_EXISTS",
      `${layout.root} holds a CA of its own (ca/cluster.key); a fleet has one CA: join with a fresh --state-dir, or --force`,
    );
  }
  await ctx.fs.mkdir(layout.root, SECRET_DIR_MODE);
  await ctx.fs.mkdir(files.dir, SECRET_DIR_MODE);
  await ctx.fs.writeAtomic(files.cert, bundle.certPem, PUBLIC_FILE_MODE);
  await ctx.fs.writeAtomic(files.key, bundle.keyPem, SECRET_FILE_MODE);
  await ctx.fs.writeAtomic(files.ca, bundle.caPem, PUBLIC_FILE_MODE);
  await saveFleetKey(ctx.fs, files, bundle.fleetKey);
  const config: FleetConfig = {
    endpoints: bundle.endpoints,
    prefix: bundle.prefix,
    name: bundle.name,
    cert: files.cert,
    key: files.key,
    ca: files.ca,
  };
  const revision = await withClient(ctx, config, config, async (client) => {
    const follower = new FleetFollower({
      client,
      keys: fleetKeys(config.prefix),
      files,
      materialize: { fs: ctx.fs, layout, files, fleetKey: bundle.fleetKey, clock: ctx.clock },
      name: config.name,
      clock: ctx.clock,
      monotonicMs: () => ctx.platform.monotonicMs(),
      sleep: (ms, signal) => ctx.platform.sleep(ms, signal),
      log: (message) => say(ctx, message),
      applied: () => undefined,
    });
    const revision = await follower.syncOnce();
    await follower.stop();
    return revision;
  });
  await saveFleetConfig(ctx.fs, files, config);
  if (!(await ctx.fs.stat(files.policy))) {
    say(
      ctx,
      `The fleet ${config.prefix} has no policy yet: publish one with \`agent fleet publish-policy FILE\` (operator).`,
    );
  }
  ctx.output.out(
    `Joined ${config.prefix} as ${config.name} (etcd revision ${revision}); the state is in ${layout.root}.\n` +
      `Start the agent: agent serve --state-dir ${layout.root}   (it follows the fleet; --policy is the fleet's)\n` +
      `Delete ${path}: it holds this host's etcd key and the fleet key.\n`,
  );
  return 0;
}

/** `fleet publish-policy FILE`: validated here first; a policy that does not compile is never written. */
async function publishPolicy(ctx: CliContext, fileArg: unknown, options: FleetOptions): Promise<ExitCode> {
  const file = String(fileArg);
  const layout = layoutOf(ctx, options);
  const config = await membership(ctx, layout);
  const text = await ctx.fs.readText(file).catch(() => {
    throw new AgentError("ERR_POLICY_MISSING", `no policy file at ${file}`);
  });
  const policy = loadPolicy(text, file);
  const keys = fleetKeys(config.prefix);
  const fleetKey = (await loadFleetKey(ctx.fs, fleetFiles(layout))) ?? new Uint8Array(32);
  const revision = await withClient(ctx, config, credentialOf(ctx, options, config), async (client) => {
    const current = await client.get(keys.piece.policy);
    return await publishPiece(
      {
        client,
        keys,
        publisher: { by: config.name, at: ctx.clock().toISOString() },
        fleetKey,
        random: ctx.random,
      },
      "policy",
      { piece: "policy", text },
      current.kv?.modRevision ?? 0,
    );
  });
  ctx.output.out(
    `Published ${file} (${policy.ruleCount} rules, sha256 ${
      policy.hash.slice(0, 12)
    }) to ${config.prefix} at etcd revision ${revision}; ` +
      "every connected member applies it within a second (`agent fleet status` shows who has).\n",
  );
  return 0;
}

/** `fleet status`: this host's snapshot, and the registry. */
async function status(ctx: CliContext, options: FleetOptions): Promise<ExitCode> {
  const layout = layoutOf(ctx, options);
  const files = fleetFiles(layout);
  const config = await membership(ctx, layout);
  const record = await loadSnapshotRecord(ctx.fs, files);
  const keys = fleetKeys(config.prefix);
  let fleet: { revision: number; stateRevision: number; nodes: ReturnType<typeof decodeNode>[] } | undefined;
  let problem: string | undefined;
  try {
    fleet = await withClient(ctx, config, credentialOf(ctx, options, config), async (client) => {
      const { kvs, revision } = await client.list(keys.prefix);
      const nodes = kvs.filter((kv) => kv.key.startsWith(keys.nodes)).map((kv) =>
        decodeNode(kv.key.slice(keys.nodes.length), kv.value)
      );
      const stateRevision = Math.max(
        0,
        ...kvs.filter((kv) => !kv.key.startsWith(keys.nodes)).map((kv) => kv.modRevision),
      );
      return { revision, stateRevision, nodes };
    });
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  const nodes = (fleet?.nodes ?? []).filter((n) => n !== undefined);
  if (options.json === true) {
    ctx.output.out(
      JSON.stringify(
        {
          prefix: config.prefix,
          name: config.name,
          endpoints: config.endpoints,
          snapshot: record ?? null,
          etcd: fleet === undefined
            ? { reachable: false, error: problem }
            : { reachable: true, revision: fleet.revision, stateRevision: fleet.stateRevision },
          nodes,
        },
        null,
        2,
      ) + "\n",
    );
    return fleet === undefined ? 1 : 0;
  }
  ctx.output.out(`Fleet ${config.prefix} on ${config.endpoints.join(", ")}; this host is ${config.name}.\n`);
  ctx.output.out(
    record === undefined
      ? "No snapshot yet on this host.\n"
      : `Snapshot: revision ${record.revision}, etcd last heard from at ${record.contactAt}.\n`,
  );
  if (fleet === undefined) {
    ctx.output.out(`etcd: unreachable (${problem}).\n`);
    return 1;
  }
  ctx.output.out(
    `etcd: revision ${fleet.revision}; shared state last changed at revision ${fleet.stateRevision}.\n`,
  );
  ctx.output.out(`${"NODE".padEnd(24)} ${"APPLIED".padEnd(8)} ${"VERSION".padEnd(10)} ADDRESSES\n`);
  for (const node of nodes) {
    const current = node.stateRevision >= fleet.stateRevision ? "" : " (behind)";
    ctx.output.out(
      `${node.name.padEnd(24)} ${String(node.stateRevision).padEnd(8)} ${node.agentVersion.padEnd(10)} ${
        node.addresses.join(", ")
      }${current}\n`,
    );
  }
  return 0;
}

export const fleetCommands: CommandGroup = {
  name: "fleet",
  summary: "A fleet on etcd: policy, keys and revocations shared by every host (init, add-host, join, ...)",
  overview:
    "Shared state in etcd under one prefix; every member's `agent serve` follows it into its own state\n" +
    "directory and decides locally. Operators' credentials change policy, keys and the CA; a host's may\n" +
    'only add revocations. See the README\'s "A fleet on etcd".',
  build(ctx: CliContext) {
    const cli = cac("agent fleet");
    cli.option("--state-dir <dir>", `State directory (default $AGENT_STATE_DIR or ${DEFAULT_STATE_DIR})`);
    cli
      .command("init", "Make this host's state the fleet's, in etcd (the first host)")
      .option("--endpoints <urls>", "etcd endpoints, comma-separated: https://etcd1:2379,https://etcd2:2379")
      .option("--cert <file>", "The operator's etcd client certificate (CN root), PEM")
      .option("--key <file>", "Its key, PEM")
      .option("--ca <file>", "The CA etcd's members' certificates are checked against, PEM")
      .option("--prefix <prefix>", `The fleet's key prefix in etcd (default ${DEFAULT_PREFIX})`)
      .option("--name <name>", "This host's node name (default: the host name)")
      .option(
        "--policy <file>",
        "The fleet's policy (checked first: one that does not compile is never written)",
      )
      .option("--demo", "Use the embedded demo policy")
      .option(
        "--setup-auth",
        "Also turn etcd's auth on: root changes everything, hosts read and add revocations",
      )
      .option("--force", "Replace a fleet's state that already exists under the prefix")
      .usage(
        "init --endpoints URLS --cert FILE --key FILE --ca FILE (--policy FILE | --demo) [--prefix P] [--setup-auth]\n\n" +
          "Publishes this host's policy, CA certificate and CRL (never the CA's key), macaroon keyring (sealed\n" +
          "with a new fleet key, <state-dir>/fleet/fleet.key), API key digests and revocations.",
      )
      .example(
        "agent fleet init --endpoints https://etcd1:2379 --cert root.crt --key root.key --ca ca.pem --policy /etc/agent/policy.yaml --setup-auth",
      )
      .action((options: FleetOptions) => init(ctx, options));
    cli
      .command(
        "add-host <name>",
        "Issue a host's etcd certificate and write its join bundle (NAME.fleet.json)",
      )
      .option("--out <file>", "Where to write the bundle (default ./NAME.fleet.json), mode 0600")
      .option(
        "--san <name>",
        "Another DNS name or address for the host's certificate (repeatable)",
        REPEATABLE,
      )
      .option("--days <n>", "Validity of the host's certificate in days")
      .option("--cert <file>", "The operator's etcd certificate, if not this host's membership's")
      .option("--key <file>", "Its key")
      .option("--force", "Replace the bundle file if it exists")
      .example("agent fleet add-host docker2")
      .action((name: unknown, options: FleetOptions) => addHost(ctx, name, options));
    cli
      .command(
        "join <bundle>",
        "Join the fleet with a bundle from `agent fleet add-host` (then: agent serve)",
      )
      .option("--force", "Join again, or join with a state directory that has its own CA")
      .example("agent fleet join docker2.fleet.json")
      .action((bundle: unknown, options: FleetOptions) => join(ctx, bundle, options));
    cli
      .command("publish-policy <file>", "Check a policy and publish it to every host (operator)")
      .option("--cert <file>", "The operator's etcd certificate, if not this host's membership's")
      .option("--key <file>", "Its key")
      .option("--ca <file>", "The CA etcd's members are checked against")
      .example("agent fleet publish-policy /etc/agent/policy.yaml")
      .action((file: unknown, options: FleetOptions) => publishPolicy(ctx, file, options));
    cli
      .command("status", "This host's snapshot, etcd's revision and every node with what it has applied")
      .option("--json", "Print JSON")
      .option("--cert <file>", "Another etcd certificate to read with")
      .option("--key <file>", "Its key")
      .action((options: FleetOptions) => status(ctx, options));
    return cli;
  },
};
