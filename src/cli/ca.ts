/**
 * `agent ca ...`: the cluster certificate authority (modelled on Flocker's flocker-ca). Issues the
 * certificates dockerd (`--tlsverify`) and docker clients use, revokes them (the plugin enforces the CRL;
 * dockerd cannot), renews them, and lists what was issued.
 */
import { cac } from "cac";
// The X.509 library loads with the operations (operations() below), not with the group: `agent ca --help`
// and a mistyped option never need it. Only light modules are imported here.
import type { CaContext, CertificateKind, IssuedCertificate, IssueResult, KeySpec } from "../ca/index.ts";
import { caFiles } from "../ca/files.ts";
import {
  DEFAULT_KEY_TYPE,
  DEFAULT_RSA_BITS,
  KEY_TYPES,
  parseKeyType,
  parseRsaBits,
} from "../ca/key-types.ts";
import { DEFAULT_CA_NAME } from "../ca/names.ts";
import { parseRevocationReason, REVOCATION_REASONS } from "../ca/revocation-reason.ts";
import { DEFAULT_CA_DAYS, DEFAULT_CRL_DAYS, DEFAULT_LEAF_DAYS, parseDays } from "../ca/validity.ts";
import { AgentError } from "../errors.ts";
import { stateLayout } from "../store/layout.ts";
import { baseName, dirName } from "../store/path.ts";
import { type CliContext, DEFAULT_STATE_DIR, type ExitCode, resolveStateDir } from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { REPEATABLE } from "./option-kinds.ts";
import { thenConfirm } from "./confirm-applied.ts";

/** The CA's operations, with the X.509 library they need. */
const operations = () => import("../ca/index.ts");

interface CommonOptions {
  readonly stateDir?: string;
  readonly json?: boolean;
}

interface KeyOptions {
  readonly keyType?: string;
  readonly rsaBits?: number | string;
}

interface OutOptions {
  readonly out?: string;
  readonly dockerLayout?: boolean;
  readonly force?: boolean;
}

interface InitCliOptions extends CommonOptions, KeyOptions {
  readonly name?: string | number;
  readonly days?: number | string;
  readonly force?: boolean;
}

interface CreateCliOptions extends CommonOptions, KeyOptions, OutOptions {
  readonly days?: number | string;
  readonly ou?: string[];
  readonly san?: string[];
  readonly localSans?: boolean;
}

interface RevokeCliOptions extends CommonOptions {
  readonly reason?: string;
  readonly kind?: string;
}

interface RenewCliOptions extends CommonOptions, KeyOptions, OutOptions {
  readonly days?: number | string;
  readonly kind?: string;
  readonly revokeOld?: boolean;
}

function caContext(ctx: CliContext, options: CommonOptions): CaContext {
  const root = resolveStateDir(options.stateDir, ctx.env);
  return { fs: ctx.fs, clock: ctx.clock, random: ctx.random, caDir: stateLayout(root).caDir };
}

function keySpec(options: KeyOptions, fallback: KeySpec["type"] | undefined): KeySpec | undefined {
  const type = options.keyType === undefined ? fallback : parseKeyType(options.keyType);
  if (options.rsaBits !== undefined) {
    if (type !== "rsa") throw new AgentError("ERR_USAGE", "--rsa-bits applies to --key-type rsa only");
    return { type, rsaBits: parseRsaBits(options.rsaBits) };
  }
  return type === undefined ? undefined : { type };
}

function strings(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function name(value: unknown): string {
  return String(value);
}

/** How a written file is named to the person: bare names in the current directory, like flocker-ca. */
function shown(path: string): string {
  return dirName(path) === "." ? baseName(path) : path;
}

function json(ctx: CliContext, value: unknown): void {
  ctx.output.out(JSON.stringify(value, null, 2) + "\n");
}

function issuedJson(result: IssueResult) {
  return {
    ...result.record,
    files: {
      certificate: result.paths.certificate,
      privateKey: result.paths.privateKey,
      ...(result.paths.caCertificate === undefined ? {} : { caCertificate: result.paths.caCertificate }),
    },
  };
}

function apiUsageHint(result: IssueResult, caCertificate: string): string {
  const { certificate, privateKey, caCertificate: dockerCa } = result.paths;
  if (dockerCa !== undefined) {
    const dir = dirName(certificate);
    return [
      `Created ${shown(dockerCa)}, ${shown(certificate)} and ${
        shown(privateKey)
      }. You can now give this directory to your`,
      `API end user so they can access the Docker API through the agent:`,
      `  export DOCKER_HOST=tcp://HOST:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${dir}`,
      `  docker version`,
      "",
    ].join("\n");
  }
  return [
    `Created ${shown(certificate)} and ${
      shown(privateKey)
    }. You can now give these to your API end user so they can access the Docker API through the agent.`,
    `Give them the CA certificate too (${caCertificate}). With the docker CLI:`,
    `  docker --tlsverify --tlscacert ${shown(caCertificate)} --tlscert ${shown(certificate)} --tlskey ${
      shown(privateKey)
    } -H tcp://HOST:2376 version`,
    `or copy them to ~/.docker as ca.pem, cert.pem and key.pem (or to a directory named by DOCKER_CERT_PATH) and`,
    `  export DOCKER_HOST=tcp://HOST:2376 DOCKER_TLS_VERIFY=1`,
    `(--docker-layout writes ca.pem, cert.pem and key.pem directly.) The user name dockerd reports is "${result.record.name}".`,
    "",
  ].join("\n");
}

function serverUsageHint(result: IssueResult, caCertificate: string): string {
  const { certificate, privateKey } = result.paths;
  const names = result.record.subjectAltNames.map((s) => s.value).join(", ");
  return [
    `Created ${shown(certificate)} and ${shown(privateKey)} for ${result.record.name} (names: ${names}).`,
    `Start dockerd with:`,
    `  dockerd --tlsverify --tlscacert ${caCertificate} --tlscert ${certificate} --tlskey ${privateKey} -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock`,
    "",
  ].join("\n");
}

function nodeUsageHint(result: IssueResult): string {
  const { certificate, privateKey } = result.paths;
  return `Created ${shown(certificate)} and ${
    shown(privateKey)
  } for node ${result.record.name} (server and client authentication).\n`;
}

async function init(ctx: CliContext, options: InitCliOptions): Promise<ExitCode> {
  const ca = caContext(ctx, options);
  const { initAuthority } = await operations();
  const result = await initAuthority(ca, {
    name: options.name === undefined ? undefined : name(options.name),
    key: keySpec(options, DEFAULT_KEY_TYPE),
    days: parseDays(options.days, DEFAULT_CA_DAYS),
    force: options.force === true,
  });
  if (result.replaced) {
    ctx.output.err(
      "agent: replaced the existing CA; certificates it issued are no longer trusted where the new cluster.crt is\n",
    );
  }
  if (options.json) {
    json(ctx, { ...result, notAfter: result.notAfter.toISOString() });
    return 0;
  }
  ctx.output.out(
    [
      `Created the certificate authority "${result.name}" (cluster id ${result.clusterId}), valid until ${result.notAfter.toISOString()}:`,
      `  ${result.files.certificate}  the CA certificate: give it to dockerd (--tlscacert) and to every client`,
      `  ${result.files.privateKey}  the CA key (0600): keep it on this host, back it up offline`,
      `  ${result.files.crl}  the revocation list the agent enforces`,
      `SHA-256 fingerprint: ${result.fingerprint}`,
      `Next: agent ca create-server-certificate HOST, then agent ca create-api-certificate USER.`,
      "",
    ].join("\n"),
  );
  return 0;
}

async function create(
  ctx: CliContext,
  kind: CertificateKind,
  subject: unknown,
  options: CreateCliOptions,
): Promise<ExitCode> {
  const ca = caContext(ctx, options);
  const { issueCertificate } = await operations();
  const result = await issueCertificate(ca, {
    kind,
    name: name(subject),
    organizationalUnits: strings(options.ou),
    subjectAltNames: strings(options.san),
    localSubjectAltNames: options.localSans !== false,
    key: keySpec(options, DEFAULT_KEY_TYPE),
    days: parseDays(options.days, DEFAULT_LEAF_DAYS),
  }, { dir: options.out ?? ".", dockerLayout: options.dockerLayout === true, force: options.force === true });
  if (options.json) {
    json(ctx, issuedJson(result));
    return 0;
  }
  const caCertificate = caFiles(ca.caDir).certificate;
  if (kind === "api") ctx.output.out(apiUsageHint(result, caCertificate));
  else if (kind === "server") ctx.output.out(serverUsageHint(result, caCertificate));
  else ctx.output.out(nodeUsageHint(result));
  ctx.output.out(`Serial ${result.record.serial}, valid until ${result.record.notAfter}.\n`);
  return 0;
}

function status(entry: IssuedCertificate, now: Date): string {
  if (entry.revokedAt !== undefined) return `revoked (${entry.reason ?? "unspecified"})`;
  return Date.parse(entry.notAfter) <= now.getTime() ? "expired" : "valid";
}

async function list(ctx: CliContext, options: CommonOptions): Promise<ExitCode> {
  const ca = caContext(ctx, options);
  const { noAuthority, readIndex } = await operations();
  const files = caFiles(ca.caDir);
  if (!(await ctx.fs.stat(files.certificate))) throw noAuthority(files);
  const { certificates } = await readIndex(ctx.fs, files.index);
  const now = ctx.clock();
  if (options.json) {
    json(
      ctx,
      certificates.map((c) => ({
        ...c,
        revoked: c.revokedAt !== undefined,
        status: status(c, now).split(" ")[0],
      })),
    );
    return 0;
  }
  const rows = [
    ["SERIAL", "KIND", "NAME", "NOT AFTER", "STATUS", "SUBJECT"],
    ...certificates.map((c) => [c.serial, c.kind, c.name, c.notAfter, status(c, now), c.subject]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const row of rows) {
    ctx.output.out(
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ") + "\n",
    );
  }
  if (certificates.length === 0) ctx.output.err("agent: no certificates issued yet\n");
  return 0;
}

async function revoke(ctx: CliContext, target: unknown, options: RevokeCliOptions): Promise<ExitCode> {
  const ca = caContext(ctx, options);
  const { parseCertificateKind, revokeCertificates } = await operations();
  const result = await revokeCertificates(ca, {
    target: name(target),
    reason: parseRevocationReason(options.reason),
    kind: options.kind === undefined ? undefined : parseCertificateKind(options.kind),
  });
  if (options.json) {
    json(ctx, {
      revoked: result.revoked,
      crl: { ...result.crl, nextUpdate: result.crl.nextUpdate.toISOString() },
    });
    return 0;
  }
  for (const c of result.revoked) {
    ctx.output.out(
      `Revoked ${c.kind} certificate ${c.serial} for ${c.name} (${c.reason ?? "unspecified"}).\n`,
    );
  }
  if (result.revoked.length > 1) {
    ctx.output.out(
      `"${
        name(target)
      }" matched ${result.revoked.length} unrevoked certificates: all of them were revoked.\n`,
    );
  }
  ctx.output.out(
    [
      `Wrote CRL number ${result.crl.crlNumber} (${result.crl.revokedCount} revoked) to ${result.crl.path}.`,
      `The agent on this host refuses these certificates within a second; on a fleet member every host does`,
      `(published below), otherwise copy crl.pem to every other host's CA directory. dockerd itself does not`,
      `check revocation.`,
      "",
    ].join("\n"),
  );
  return 0;
}

async function renew(ctx: CliContext, target: unknown, options: RenewCliOptions): Promise<ExitCode> {
  const ca = caContext(ctx, options);
  const { parseCertificateKind, renewCertificate } = await operations();
  const result = await renewCertificate(ca, {
    target: name(target),
    kind: options.kind === undefined ? undefined : parseCertificateKind(options.kind),
    days: options.days === undefined ? undefined : parseDays(options.days, DEFAULT_LEAF_DAYS),
    key: keySpec(options, undefined),
    revokeOld: options.revokeOld === true,
  }, { dir: options.out ?? ".", dockerLayout: options.dockerLayout === true, force: options.force === true });
  if (options.json) {
    json(ctx, {
      previous: result.previous,
      issued: issuedJson(result.issued),
      previousRevoked: result.revocation !== undefined,
    });
    return 0;
  }
  const { issued, previous } = result;
  ctx.output.out(
    `Created ${shown(issued.paths.certificate)} and ${
      shown(issued.paths.privateKey)
    }: a new ${issued.record.kind} certificate for ${issued.record.name} ` +
      `(serial ${issued.record.serial}, new key, valid until ${issued.record.notAfter}).\n`,
  );
  ctx.output.out(
    result.revocation
      ? `The previous certificate ${previous.serial} was revoked (superseded).\n`
      : `The previous certificate ${previous.serial} stays valid until it expires (${previous.notAfter}); ` +
        `run \`agent ca revoke ${previous.serial}\` to end it sooner.\n`,
  );
  return 0;
}

async function refreshCrl(
  ctx: CliContext,
  options: CommonOptions & { days?: number | string },
): Promise<ExitCode> {
  const { updateCrl } = await operations();
  const published = await updateCrl(caContext(ctx, options), parseDays(options.days, DEFAULT_CRL_DAYS));
  if (options.json) {
    json(ctx, { ...published, nextUpdate: published.nextUpdate.toISOString() });
    return 0;
  }
  ctx.output.out(
    `Wrote CRL number ${published.crlNumber} (${published.revokedCount} revoked) to ${published.path}, next update due ${published.nextUpdate.toISOString()}.\n`,
  );
  return 0;
}

const KEY_TYPE_HELP = `Key type: ${KEY_TYPES.join(", ")} (default ${DEFAULT_KEY_TYPE}, P-256)`;
const RSA_BITS_HELP = `RSA modulus length: 2048, 3072 or 4096 (default ${DEFAULT_RSA_BITS})`;

export const caCommands: CommandGroup = {
  name: "ca",
  summary: "Certificate authority: server and API user certificates, revocation, renewal",
  overview: "The cluster certificate authority for dockerd --tlsverify.",
  build(ctx) {
    const cli = cac("agent ca");
    const stateDirOf = (options: CommonOptions) => resolveStateDir(options.stateDir, ctx.env);
    cli.option(
      "--state-dir <dir>",
      `State directory; the CA lives in its ca/ (default $AGENT_STATE_DIR or ${DEFAULT_STATE_DIR})`,
    );
    cli.option("--json", "Print the result as JSON");

    cli
      .command("init", "Create the cluster CA (cluster.crt, cluster.key, crl.pem)")
      .option("--name <name>", `The CA's name (its CN; default ${DEFAULT_CA_NAME})`)
      .option("--key-type <type>", KEY_TYPE_HELP)
      .option("--rsa-bits <bits>", RSA_BITS_HELP)
      .option("--days <n>", `Validity in days (default ${DEFAULT_CA_DAYS})`)
      .option("--force", "Replace an existing CA (every certificate it issued stops being trusted)")
      .usage(
        "init [--name NAME] [--key-type ecdsa|ed25519|rsa] [--days N] [--force]\n\n" +
          "Writes the CA into <state-dir>/ca (mode 0700): cluster.crt, cluster.key (0600, unencrypted PKCS#8),\n" +
          "crl.pem (empty) and index.json. The subject is CN=NAME, OU=<random cluster id>. Refuses to\n" +
          "overwrite an existing CA (ERR_CA_EXISTS) unless --force.",
      )
      .example("agent ca init --name prod-cluster")
      .example("agent ca init --name lab --key-type ed25519 --state-dir ./state")
      .action((options: InitCliOptions) =>
        thenConfirm(ctx, stateDirOf(options), ["ca"], () => init(ctx, options))
      );

    cli
      .command(
        "create-api-certificate <user>",
        "Issue a client certificate for an API user (CN = the user name)",
      )
      .option("--days <n>", `Validity in days (default ${DEFAULT_LEAF_DAYS})`)
      .option("--out <dir>", "Directory for USER.crt and USER.key (default: the current directory)")
      .option("--docker-layout", "Write ca.pem, cert.pem and key.pem (for DOCKER_CERT_PATH) instead")
      .option("--ou <group>", "Organizational unit, a group policy can match (repeatable)", REPEATABLE)
      .option("--key-type <type>", KEY_TYPE_HELP)
      .option("--rsa-bits <bits>", RSA_BITS_HELP)
      .option("--force", "Replace files that already exist")
      .usage(
        "create-api-certificate USER [--days N] [--out DIR] [--docker-layout] [--ou GROUP ...] [--key-type T] [--force]\n\n" +
          "dockerd reports the certificate's CN to the agent as the user, unchanged, so USER is exactly the name\n" +
          "policy rules match: 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with '-' or '.'.\n" +
          "Extended key usage clientAuth; the key is unencrypted PKCS#8 with mode 0600.",
      )
      .example("agent ca create-api-certificate alice --ou developers")
      .example("agent ca create-api-certificate alice --docker-layout --out ~/.docker/agent")
      .action((user: unknown, options: CreateCliOptions) => create(ctx, "api", user, options));

    cli
      .command("create-server-certificate <host>", "Issue the certificate dockerd --tlsverify serves")
      .option("--san <name>", "Another DNS name or IP address clients use (repeatable)", REPEATABLE)
      .option("--no-local-sans", "Leave out localhost, 127.0.0.1 and ::1")
      .option("--days <n>", `Validity in days (default ${DEFAULT_LEAF_DAYS})`)
      .option("--out <dir>", "Directory for HOST.crt and HOST.key (default: the current directory)")
      .option("--key-type <type>", KEY_TYPE_HELP)
      .option("--rsa-bits <bits>", RSA_BITS_HELP)
      .option("--force", "Replace files that already exist")
      .usage(
        "create-server-certificate HOST [--san NAME ...] [--days N] [--out DIR]\n\n" +
          "The subjectAltName lists HOST, localhost, 127.0.0.1, ::1 and every --san: Go (dockerd's clients) has\n" +
          "no CN fallback, so every name or address clients dial must be there. Extended key usage serverAuth.",
      )
      .example("agent ca create-server-certificate docker1.example.com --san 10.0.0.5 --out /etc/docker/tls")
      .action((host: unknown, options: CreateCliOptions) => create(ctx, "server", host, options));

    cli
      .command(
        "create-node-certificate <name>",
        "Issue a certificate for a host that is both server and client",
      )
      .option("--san <name>", "Another DNS name or IP address (repeatable)", REPEATABLE)
      .option("--ou <group>", "Organizational unit (repeatable)", REPEATABLE)
      .option("--days <n>", `Validity in days (default ${DEFAULT_LEAF_DAYS})`)
      .option("--out <dir>", "Directory for NAME.crt and NAME.key (default: the current directory)")
      .option("--key-type <type>", KEY_TYPE_HELP)
      .option("--rsa-bits <bits>", RSA_BITS_HELP)
      .option("--force", "Replace files that already exist")
      .usage(
        "create-node-certificate NAME [--san NAME ...] [--days N] [--out DIR]\n\n" +
          "Extended key usage serverAuth and clientAuth; NAME is the CN (and a DNS SAN when it is a host name).",
      )
      .example("agent ca create-node-certificate node1 --san node1.internal --san 10.0.0.11")
      .action((node: unknown, options: CreateCliOptions) => create(ctx, "node", node, options));

    cli
      .command("list", "List issued certificates: serial, kind, name, expiry, status")
      .usage(
        "list [--json]\n\nReads <state-dir>/ca/index.json. STATUS is valid, expired or revoked (reason).",
      )
      .example("agent ca list --json")
      .action((options: CommonOptions) => list(ctx, options));

    cli
      .command("revoke <name-or-serial>", "Revoke certificates and write a new CRL the agent enforces")
      .option(
        "--reason <reason>",
        `One of ${Object.keys(REVOCATION_REASONS).join(", ")} (default unspecified)`,
      )
      .option("--kind <kind>", "Only certificates of this kind: api, server or node")
      .usage(
        "revoke NAME|SERIAL [--reason R] [--kind K]\n\n" +
          "A serial revokes that certificate; a name revokes every unrevoked certificate issued under it.\n" +
          "crl.pem is rewritten (CRL number +1). The agent on this host refuses revoked certificates within a\n" +
          "second; copy crl.pem to other hosts' CA directories. dockerd itself never checks revocation.",
      )
      .example("agent ca revoke alice --reason keyCompromise")
      .example("agent ca revoke 4f1c0e9b2a7d4c3e8f6a1b2c3d4e5f60")
      .action((target: unknown, options: RevokeCliOptions) =>
        thenConfirm(ctx, stateDirOf(options), ["ca"], () => revoke(ctx, target, options))
      );

    cli
      .command(
        "renew <name-or-serial>",
        "Issue a fresh certificate (new key, new serial) for the same subject",
      )
      .option("--days <n>", "Validity in days (default: the previous certificate's lifetime)")
      .option("--out <dir>", "Directory to write into (default: the current directory)")
      .option("--docker-layout", "Write ca.pem, cert.pem and key.pem (API certificates)")
      .option("--kind <kind>", "Which kind, when several kinds share the name")
      .option("--key-type <type>", "Key type (default: the previous certificate's)")
      .option("--rsa-bits <bits>", RSA_BITS_HELP)
      .option("--revoke-old", "Revoke the previous certificate (reason superseded)")
      .option("--force", "Replace files that already exist (e.g. the previous NAME.crt and NAME.key)")
      .usage(
        "renew NAME|SERIAL [--days N] [--out DIR] [--revoke-old] [--force]\n\n" +
          "Same kind, CN, groups and SANs as the newest unrevoked certificate of that name. The previous\n" +
          "certificate stays valid until it expires unless --revoke-old.",
      )
      .example("agent ca renew alice --out ./alice-2026")
      .example("agent ca renew docker1.example.com --out /etc/docker/tls --force --revoke-old")
      .action((target: unknown, options: RenewCliOptions) =>
        options.revokeOld === true
          ? thenConfirm(ctx, stateDirOf(options), ["ca"], () => renew(ctx, target, options))
          : renew(ctx, target, options)
      );

    cli
      .command("update-crl", "Re-sign the CRL with a fresh next-update date")
      .option("--days <n>", `Until the next update (default ${DEFAULT_CRL_DAYS})`)
      .usage(
        "update-crl [--days N]\n\n" +
          "OpenSSL-based consumers refuse a CRL past its next update; the agent's own gate does not. Run this\n" +
          "from cron when other software reads crl.pem.",
      )
      .example("agent ca update-crl --days 30")
      .action((options: CommonOptions & { days?: number | string }) =>
        thenConfirm(ctx, stateDirOf(options), ["ca"], () => refreshCrl(ctx, options))
      );

    return cli;
  },
};
