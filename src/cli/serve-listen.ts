/**
 * `agent serve --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]`: the options of the HTTPS listener,
 * checked before anything is created (usage errors, exit 2). Kept light: serve reads it on every start, and
 * loads the listener itself (serve-https.ts, with its TLS material) only when --listen is given.
 */
import { type ListenAddress, parseListenAddress } from "../api/listen-address.ts";
import { caFiles } from "../ca/files.ts";
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

/** `--api-url`: an https URL with no path, query or credentials; only with --listen. Usage error otherwise. */
export function checkApiUrl(url: string | undefined, listening: boolean): void {
  if (url === undefined) return;
  if (!listening) {
    throw new AgentError("ERR_USAGE", "--api-url is for the HTTPS listener: add --listen ADDR:PORT");
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    parsed === undefined || parsed.protocol !== "https:" || parsed.username !== "" ||
    parsed.password !== "" ||
    parsed.search !== "" || parsed.hash !== "" || parsed.pathname !== "/"
  ) {
    throw new AgentError(
      "ERR_USAGE",
      `--api-url must be https://HOST[:PORT] with nothing after it (got ${JSON.stringify(url.slice(0, 80))})`,
    );
  }
}
