/**
 * `agent serve --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]`: the options of the HTTPS listener,
 * checked before anything is created (usage errors, exit 2), and its TLS material: the given certificate,
 * or one issued (or reused) from the agent's CA in the state directory (ca/listener-certificate.ts).
 */
import { type ListenAddress, parseListenAddress } from "../api/index.ts";
import { caFiles, ensureListenerCertificate, type ListenerNames, listenerNames } from "../ca/index.ts";
import { AgentError } from "../errors.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";

/** The API's deadline for one call to dockerd (below the listener's request limit). */
export const API_DOCKER_TIMEOUT_MS = 5_000;

export interface ListenOptions {
  readonly listen?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

export interface ListenPlan {
  readonly address: ListenAddress;
  /** --tls-cert and --tls-key, read and checked. */
  readonly given?: {
    readonly file: string;
    readonly keyFile: string;
    readonly certificatePem: string;
    readonly privateKeyPem: string;
  };
}

export const PEM_CERTIFICATE_LABEL = /-----BEGIN CERTIFICATE-----/;
export const PEM_PRIVATE_KEY_LABEL = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

async function readPem(ctx: CliContext, file: string, option: string, label: RegExp, what: string) {
  let text: string;
  try {
    text = await ctx.fs.readText(file);
  } catch {
    throw new AgentError("ERR_USAGE", `${option}: cannot read ${file}`);
  }
  if (!label.test(text)) throw new AgentError("ERR_USAGE", `${option}: ${file} holds no ${what}`);
  return text;
}

/** The listener's options, or undefined without --listen; ERR_USAGE for anything wrong. Creates nothing. */
export async function checkListenOptions(
  ctx: CliContext,
  options: ListenOptions,
  layout: StateLayout,
): Promise<ListenPlan | undefined> {
  if (options.listen === undefined) {
    if (options.tlsCert !== undefined || options.tlsKey !== undefined) {
      throw new AgentError(
        "ERR_USAGE",
        "--tls-cert and --tls-key are for the HTTPS listener: add --listen ADDR:PORT",
      );
    }
    return undefined;
  }
  const address = parseListenAddress(options.listen);
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new AgentError("ERR_USAGE", "give --tls-cert FILE and --tls-key FILE together");
  }
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    return {
      address,
      given: {
        file: options.tlsCert,
        keyFile: options.tlsKey,
        certificatePem: await readPem(
          ctx,
          options.tlsCert,
          "--tls-cert",
          PEM_CERTIFICATE_LABEL,
          "PEM certificate",
        ),
        privateKeyPem: await readPem(
          ctx,
          options.tlsKey,
          "--tls-key",
          PEM_PRIVATE_KEY_LABEL,
          "PEM private key",
        ),
      },
    };
  }
  const ca = caFiles(layout.caDir);
  if (!(await ctx.fs.stat(ca.certificate)) || !(await ctx.fs.stat(ca.privateKey))) {
    throw new AgentError(
      "ERR_USAGE",
      `--listen needs a certificate: run \`agent ca init\` (the agent then issues its own from ${ca.dir}), or pass --tls-cert FILE --tls-key FILE. The API is never served over plain HTTP`,
    );
  }
  return { address };
}

export interface ListenerTls {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The agent's CA certificate, when there is one: client certificates are verified against it. */
  readonly clientCaPem: string | undefined;
  /** Issued from the agent's CA (no --tls-cert): the names it was asked for, and when it expires. */
  readonly issued?: { readonly names: ListenerNames; readonly notAfter: Date };
  /** A log line about the certificate. */
  readonly summary: string;
  /** Log text about client certificates. */
  readonly clients: string;
}

/** The listener's certificate: the one given, or issued (or reused) from the agent's CA. */
export async function listenerTls(
  ctx: CliContext,
  plan: ListenPlan,
  layout: StateLayout,
): Promise<ListenerTls> {
  const ca = caFiles(layout.caDir);
  const clientCaPem = (await ctx.fs.stat(ca.certificate)) ? await ctx.fs.readText(ca.certificate) : undefined;
  const clients = clientCaPem === undefined
    ? "client certificates are not requested (no CA in the state directory)"
    : `client certificates of the CA in ${ca.certificate} identify users`;
  if (plan.given !== undefined) {
    return {
      certificatePem: plan.given.certificatePem,
      privateKeyPem: plan.given.privateKeyPem,
      clientCaPem,
      summary: `HTTPS listener certificate ${plan.given.file}`,
      clients,
    };
  }
  const names = wantedNames(ctx, plan);
  const issued = await ensureListenerCertificate(
    { fs: ctx.fs, clock: ctx.clock, random: ctx.random, caDir: layout.caDir },
    layout.listenerDir,
    names,
  );
  const expires = issued.notAfter.toISOString();
  const named = [...new Set([names.name, ...names.subjectAltNames, "localhost", "127.0.0.1", "::1"])];
  return {
    certificatePem: issued.certificatePem,
    privateKeyPem: issued.privateKeyPem,
    clientCaPem,
    issued: { names, notAfter: issued.notAfter },
    summary: issued.status === "reused"
      ? `HTTPS listener certificate ${issued.certificatePath} (reused, expires ${expires})`
      : `issued the HTTPS listener certificate ${issued.certificatePath} from the agent's CA (${issued.why}); ` +
        `it names ${named.join(", ")}, and expires ${expires}`,
    clients,
  };
}

/** What the listener's own certificate should name on this host (ca/listener-certificate.ts). */
function wantedNames(ctx: CliContext, plan: ListenPlan): ListenerNames {
  const host = ctx.platform.hostNames();
  const { address } = plan;
  return listenerNames(host.hostname, address.wildcard ? undefined : address.hostname, host.addresses);
}
