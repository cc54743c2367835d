/**
 * `agent id create`: a fresh macaroon (own nonce) from the root key, or an attenuation of any macaroon
 * (--from, no key needed). Caveat values are validated before anything is minted: op and ip must parse,
 * expires is a positive number of seconds written as an absolute UTC time, and container and image ids must
 * exist on the local daemon, resolved from names and short ids to the full ids the plugin compares.
 */
import { internalTokenSource } from "../../decide/internal-token.ts";
import { cachedResolver } from "../../docker/cached-resolver.ts";
import { engineClient } from "../../docker/engine-client.ts";
import type { DockerResolver } from "../../docker/resolver.ts";
import { AgentError } from "../../errors.ts";
import {
  attenuateToken,
  currentKey,
  decodeMacaroon,
  decodeStack,
  type DockerCaveat,
  dockerCaveat,
  expiresAfter,
  formatDockerCaveat,
  initKeyring,
  type Keyring,
  type MacaroonFormat,
  mintToken,
  parseIdentifier,
} from "../../macaroon/index.ts";
import type { CliContext, ExitCode } from "../context.ts";
import { base64UrlDecode } from "./base64url.ts";
import { type IdArgs, layoutOf, note, printJson, printToken, readSecret, requireKeyring } from "./common.ts";
import { dockerSocketPath } from "./docker-socket.ts";
import { parseFormat } from "./keys.ts";

/** A caveat value from the command line; a bad value is a usage error that names the option. */
function caveatFrom(name: string, value: string): DockerCaveat {
  try {
    return dockerCaveat(name, value);
  } catch (err) {
    if (err instanceof AgentError) throw new AgentError("ERR_USAGE", err.message);
    throw err;
  }
}

function expiryFrom(value: string, now: Date): DockerCaveat {
  if (!/^[1-9][0-9]{0,11}$/.test(value)) {
    throw new AgentError(
      "ERR_USAGE",
      "--expires takes a positive whole number of seconds, e.g. --expires 3600",
    );
  }
  try {
    return expiresAfter(now, Number(value));
  } catch (err) {
    if (err instanceof AgentError) throw new AgentError("ERR_USAGE", `--expires: ${err.message}`);
    throw err;
  }
}

/** The token `--from` names, which must be one macaroon: a stack's discharges are bound to its root. */
function singleMacaroon(text: string) {
  let count: number;
  try {
    count = decodeStack(text).length;
  } catch (err) {
    if (err instanceof AgentError) throw new AgentError(err.code, `--from is not a macaroon: ${err.message}`);
    throw err;
  }
  if (count > 1) {
    throw new AgentError(
      "ERR_USAGE",
      `--from takes one macaroon, but this holds ${count} (a root macaroon and its discharges, as X-Macaroon ` +
        "carries them): discharges are bound to the root's signature, so attenuate the root (the first) " +
        "before its discharges are bound to it",
    );
  }
  return decodeMacaroon(text);
}

/**
 * Every caveat must hold, so two that cannot hold together mint a token that allows nothing but ping.
 * That is never what was meant: say so instead of minting it.
 */
function refuseContradictions(caveats: readonly DockerCaveat[]): void {
  const ops = caveats.filter((c): c is Extract<DockerCaveat, { name: "op" }> => c.name === "op");
  if (ops.length > 1 && !ops.every((o) => o.read) && !ops.every((o) => o.write)) {
    throw new AgentError(
      "ERR_USAGE",
      `${ops.map((c) => `--op ${formatDockerCaveat(c).replace(/^op = /, "")}`).join(" and ")} ` +
        "together allow nothing (every caveat must hold); for both kinds write --op read,write",
    );
  }
  for (const kind of ["container_id", "image_id"] as const) {
    const ids = new Set(caveats.filter((c) => c.name === kind).map(formatDockerCaveat));
    if (ids.size > 1) {
      const option = kind === "container_id" ? "--container-id" : "--image-id";
      throw new AgentError(
        "ERR_USAGE",
        `the ${option} values name ${ids.size} different ${
          kind === "container_id" ? "containers" : "images"
        }: ` +
          "a request is on one, so the token would allow none; mint one token per " +
          (kind === "container_id" ? "container" : "image"),
      );
    }
  }
}

async function resolved(
  kind: "container" | "image",
  ref: string,
  lookup: (ref: string) => Promise<string | undefined>,
  socket: string,
): Promise<string> {
  let id: string | undefined;
  try {
    id = await lookup(ref);
  } catch (err) {
    const why = err instanceof AgentError ? err.message : "the lookup failed";
    throw new AgentError(
      err instanceof AgentError ? err.code : "ERR_DOCKER_UNREACHABLE",
      `cannot check ${kind} ${JSON.stringify(ref)}: ${why}`,
    );
  }
  if (id === undefined) {
    throw new AgentError(
      "ERR_DOCKER_NOT_FOUND",
      `no ${kind} ${JSON.stringify(ref)} on the Docker daemon at ${socket}`,
    );
  }
  return id;
}

/** The key to mint with: the local keyring, or one re-derived from the passphrase (and salt). */
async function mintingKeyring(ctx: CliContext, args: IdArgs, secret: string): Promise<Keyring> {
  const saltText = args.value("salt");
  if (saltText !== undefined) {
    const salt = base64UrlDecode(saltText);
    if (salt === undefined || salt.length !== 16) {
      throw new AgentError("ERR_USAGE", "--salt must be the 16-byte base64url salt `agent id init` printed");
    }
    return await initKeyring(secret, ctx.random, ctx.clock, { salt });
  }
  const stored = currentKey(await requireKeyring(ctx, layoutOf(ctx, args)));
  if (stored.kdf === undefined) {
    throw new AgentError(
      "ERR_MACAROON_KEY",
      "the current root key was not derived from a passphrase; omit --secret",
    );
  }
  const { name, logN, r, p, salt } = stored.kdf;
  const derived = await initKeyring(secret, ctx.random, ctx.clock, { salt, kdf: { name, logN, r, p } });
  if (derived.current !== stored.id) {
    throw new AgentError("ERR_MACAROON_KEY", "the passphrase does not derive the current root key");
  }
  return derived;
}

export async function create(ctx: CliContext, args: IdArgs): Promise<ExitCode> {
  const from = args.value("from");
  const secret = await readSecret(ctx, args);
  if (from !== undefined && (secret !== undefined || args.value("salt") !== undefined)) {
    throw new AgentError(
      "ERR_USAGE",
      "--from attenuates an existing token and needs no key: drop --secret/--salt",
    );
  }
  if (args.value("salt") !== undefined && secret === undefined) {
    throw new AgentError("ERR_USAGE", "--salt needs --secret");
  }

  // Everything that needs no daemon is validated first, so a typo fails fast. Expiry counts from the
  // current whole second: never later than asked, and readable.
  const now = new Date(Math.floor(ctx.clock().getTime() / 1000) * 1000);
  const ops = args.values("op").map((v) => caveatFrom("op", v));
  refuseContradictions(ops);
  const ips = args.values("ip").map((v) => caveatFrom("ip", v));
  const expiries = args.values("expires").map((v) => expiryFrom(v, now));
  const containerRefs = args.values("container-id");
  const imageRefs = args.values("image-id");
  const fromFormat = from === undefined ? undefined : singleMacaroon(from).format;
  const format: MacaroonFormat = parseFormat(args.value("format"), fromFormat ?? "v2");

  const keyring = from !== undefined
    ? undefined
    : secret !== undefined
    ? await mintingKeyring(ctx, args, secret)
    : await requireKeyring(ctx, layoutOf(ctx, args));

  const ids: DockerCaveat[] = [];
  if (containerRefs.length > 0 || imageRefs.length > 0) {
    const socket = dockerSocketPath(args.value("docker-socket"), ctx.env);
    // Our own lookups pass through the plugin too: a short read-only token when we hold the key, else the
    // token being attenuated.
    const internal = keyring ? internalTokenSource(keyring, ctx.random, ctx.clock) : undefined;
    const headers = (): Record<string, string> =>
      internal ? { "X-Macaroon": internal() } : from !== undefined ? { "X-Macaroon": from } : {};
    const resolver: DockerResolver = cachedResolver(
      engineClient({ platform: ctx.platform, socketPath: socket, headers }),
    );
    for (const ref of containerRefs) {
      const id = await resolved("container", ref, (r) => resolver.resolveContainer(r), socket);
      ids.push(caveatFrom("container_id", id));
    }
    for (const ref of imageRefs) {
      const id = await resolved("image", ref, (r) => resolver.resolveImage(r), socket);
      ids.push(caveatFrom("image_id", id));
    }
  }
  refuseContradictions(ids);
  const caveats = [
    ...ops,
    ...ids.filter((c) => c.name === "container_id"),
    ...ids.filter((c) => c.name === "image_id"),
    ...ips,
    ...expiries,
  ];
  const texts = caveats.map(formatDockerCaveat);
  const expires = expiries.length === 0
    ? null
    : new Date(Math.min(...expiries.map((c) => (c.name === "expires" ? c.atMs : Infinity)))).toISOString();

  let token: string;
  let keyId: string | undefined;
  let nonce: string | undefined;
  if (keyring === undefined) {
    token = attenuateToken(from!, caveats, format);
    ({ keyId, nonce } = parseIdentifier(decodeMacaroon(token).identifier));
  } else {
    const minted = mintToken(keyring, ctx.random, caveats, { format });
    ({ token, keyId, nonce } = minted);
  }

  if (args.flag("json")) {
    printJson(ctx, {
      token,
      keyId: keyId ?? null,
      nonce: nonce ?? null,
      caveats: texts,
      expires,
      attenuated: !!from,
    });
    return 0;
  }
  const lines = [
    from !== undefined
      ? `Attenuated the token with ${caveats.length} more caveat${caveats.length === 1 ? "" : "s"}.`
      : `Minted a macaroon with key ${keyId}.`,
    ...(texts.length === 0
      ? ["No caveats: it allows everything the policy allows."]
      : ["Caveats (all must hold):", ...texts.map((t) => `  ${t}`)]),
    ...(nonce === undefined
      ? []
      : [`Revoke it (and every token attenuated from it) with: agent id revoke ${revokeArgument(nonce)}`]),
    "Use it with: agent id set TOKEN   (docker client default)   or   agent id exec TOKEN -- docker ...",
  ];
  note(ctx, lines.join("\n"));
  printToken(ctx, token);
  return 0;
}

/** A nonce as `agent id revoke` takes it: one that starts with "-" (base64url may) goes after --. */
function revokeArgument(nonce: string): string {
  return nonce.startsWith("-") ? `-- ${nonce}` : nonce;
}
