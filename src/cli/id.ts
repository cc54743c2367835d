/**
 * `agent id ...`: the macaroon commands (the 2015 Docker remote-API proposal's `docker id`). `init` turns the
 * macaroon gate on, `create` mints or attenuates tokens, `set`/`exec` hand them to the docker client,
 * `inspect` explains them, `revoke`/`rotate`/`retire` manage them, `destroy` turns the gate off.
 * Tokens print alone on the last line of stdout; explanations go to stderr.
 */
import { cac } from "cac";
import { DEFAULT_STATE_DIR } from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { exec, set } from "./id/client.ts";
import { changingAction, IdArgs, layoutOf, printJson, requireKeyring } from "./id/common.ts";
import { create } from "./id/create.ts";
import { DEFAULT_DOCKER_SOCKET } from "./id/docker-socket.ts";
import { inspectToken, renderReport, verifyForInspect } from "./id/inspect.ts";
import { destroy, init, listKeys, retireKey, revokeToken, rotateKey, show } from "./id/keys.ts";
import { loadRevocations } from "../macaroon/index.ts";
import type { CliContext, ExitCode } from "./context.ts";
import { passthrough, REPEATABLE } from "./option-kinds.ts";

const SECRET_HELP =
  "Passphrase for the root key (at least 8 characters; visible in ps: prefer --secret-file)";

async function inspect(ctx: CliContext, args: IdArgs, token: unknown): Promise<ExitCode> {
  const text = String(token ?? "");
  const report = inspectToken(text);
  const full = args.flag("verify")
    ? {
      ...report,
      verification: await (async () => {
        const layout = layoutOf(ctx, args);
        const keyring = await requireKeyring(ctx, layout);
        return verifyForInspect(
          text,
          report,
          keyring,
          await loadRevocations(ctx.fs, layout),
          ctx.clock().getTime(),
        );
      })(),
    }
    : report;
  if (args.flag("json")) printJson(ctx, full);
  else ctx.output.out(renderReport(full));
  return full.verification === undefined || full.verification.valid ? 0 : 1;
}

export const idCommands: CommandGroup = {
  name: "id",
  summary: "Macaroons: require tokens on every request, mint, attenuate, inspect, revoke",
  overview: "Macaroons: bearer tokens whose holders can only narrow them. From `agent id init` until\n" +
    "`agent id destroy`, every Docker API request must carry a valid macaroon (X-Macaroon header).",
  build(ctx) {
    const cli = cac("agent id");
    cli.option("--state-dir <dir>", `State directory (default $AGENT_STATE_DIR or ${DEFAULT_STATE_DIR})`);
    const args = (options: Record<string, unknown>) => new IdArgs(options);
    // Commands that change what a running agent enforces confirm that it applied the change.
    const changing = changingAction(ctx);

    cli
      .command("init", "Create the root key: from now on every request needs a macaroon")
      .option("--secret <passphrase>", SECRET_HELP)
      .option("--secret-file <file>", "Read the passphrase from a file (first line)")
      .option(
        "--salt <salt>",
        "Reuse another host's salt (with --secret) to derive the same key; write --salt=SALT",
      )
      .option("--json", "Print key id, salt and root macaroon as JSON")
      .usage(
        "init [--secret S | --secret-file F] [--salt SALT] [--json]\n\n" +
          "Writes <state-dir>/macaroon/keys.json (mode 0600). With a passphrase the key is derived by scrypt\n" +
          "(N=2^17, r=8, p=1) with a random salt stored beside it; without one the key is random. A running\n" +
          "`agent serve` refuses every request without a valid macaroon within a second. Prints the root\n" +
          "macaroon alone on the last line of stdout (it allows everything the policy allows).",
      )
      .example("agent id init --secret-file /root/agent-passphrase")
      .example("ROOT=$(agent id init)")
      .action((options: Record<string, unknown>) => changing(options, ["keyring"], init));

    cli
      .command("show", "Print the root macaroon of the current key")
      .option("--format <format>", "v2 (default, base64url binary), v2j (JSON), v1 or v1j")
      .usage("show [--format v2|v2j|v1|v1j]\n\nNeeds read access to the keyring (root on a default install).")
      .example("agent id show --format v2j")
      .action((options: Record<string, unknown>) => show(ctx, args(options)));

    cli
      .command("create", "Mint a macaroon with caveats, or attenuate one (--from)")
      .option("--op <ops>", "read (calls that only read), write (all others) or read,write", REPEATABLE)
      .option(
        "--container-id <ref>",
        "Only requests on this container (name or id; resolved to the full id)",
        REPEATABLE,
      )
      .option("--image-id <ref>", "Only requests on this image, and creating containers from it", REPEATABLE)
      .option(
        "--ip <addr>",
        "Client address or CIDR (note: dockerd does not tell plugins the client address)",
        REPEATABLE,
      )
      .option(
        "--expires <seconds>",
        "Valid for this many seconds (written as an absolute UTC time)",
        REPEATABLE,
      )
      .option("--secret <passphrase>", "Re-derive the root key from the passphrase instead of reading it")
      .option("--secret-file <file>", "Read the passphrase from a file")
      .option(
        "--salt <salt>",
        "With --secret on a host without the keyring: --salt=SALT as `agent id init` printed",
      )
      .option("--from <token>", "Attenuate this token (any format) offline; no key needed")
      .option("--format <format>", "Output format: v2 (default), v2j, v1, v1j (--from keeps its format)")
      .option(
        "--docker-socket <path>",
        `Daemon socket for resolving ids (default $DOCKER_HOST if unix://, else ${DEFAULT_DOCKER_SOCKET})`,
      )
      .option("--json", "Print token, nonce, caveats and expiry as JSON")
      .usage(
        "create [--op OPS] [--container-id REF] [--image-id REF] [--ip ADDR] [--expires SECONDS]\n" +
          "              [--secret S [--salt SALT] | --from TOKEN] [--format F] [--json]\n\n" +
          "Options combine and repeat: every caveat must hold, so values that cannot hold together\n" +
          "(--op read --op write, two different containers) are refused.\n" +
          "Container and image references must exist on the local daemon; they are stored as full ids.\n" +
          "A minted token has its own nonce (revoke it with `agent id revoke NONCE`); an attenuated one\n" +
          "shares the nonce of the token it came from. The token prints alone on the last line of stdout.",
      )
      .example("T=$(agent id create --op read --expires 3600)")
      .example("agent id create --container-id web --op read,write")
      .example('agent id create --from "$T" --image-id tiny:latest')
      .action((options: Record<string, unknown>) => create(ctx, args(options)));

    cli
      .command("set [token]", "Make a token the docker client's default (config.json HttpHeaders)")
      .option("--clear", "Remove the X-Macaroon header instead")
      .usage(
        "set TOKEN | set --clear\n\n" +
          "Edits $DOCKER_CONFIG/config.json (else ~/.docker/config.json): HttpHeaders.X-Macaroon = TOKEN.\n" +
          "Every other key is kept; the file is written atomically with mode 0600.",
      )
      .example('agent id set "$(agent id create --op read)"')
      .example("agent id set --clear")
      .action((token: unknown, options: Record<string, unknown>) => set(ctx, args(options), token));

    passthrough(
      cli.command(
        "exec <token> [...command]",
        "Run one command with a token, leaving the docker config alone",
      ),
    )
      .usage(
        "exec TOKEN [--] COMMAND [ARGS...]\n\n" +
          "Everything after TOKEN is the command, exactly as typed (a leading -- is dropped).\n" +
          "Runs COMMAND with DOCKER_CONFIG pointing at a temporary copy of the client config that carries\n" +
          "the header (removed afterwards). Exit code: the command's own; 1 or 2 when the agent fails first,\n" +
          "127 when the command cannot be started.",
      )
      .example('agent id exec "$T" docker ps -a --format "{{.Names}}"')
      .action((token: unknown, command: unknown) => exec(ctx, token, command));

    cli
      .command("inspect <token>", "Decode a token (any format) without printing its signature")
      .option("--verify", "Check it with this host's keyring: signature, key, revocation, each caveat")
      .option("--json", "Print the report as JSON")
      .usage(
        "inspect TOKEN [--verify] [--json]\n\n" +
          "Shows location, identifier, key id, nonce, caveats and expiry of the token and its discharges.\n" +
          "--verify says exactly what fails: a bad signature, a retired or unknown key, a revoked nonce, or\n" +
          "which caveat does not hold (op, container_id and image_id depend on each request).\n" +
          "Exit codes: 0 ok (with --verify: valid), 1 invalid or failure, 2 usage error.",
      )
      .example('agent id inspect "$T" --verify')
      .action((token: unknown, options: Record<string, unknown>) => inspect(ctx, args(options), token));

    cli
      .command("revoke [target]", "Revoke a token (or its nonce) and every token attenuated from it")
      .usage(
        "revoke TOKEN|NONCE\n\n" +
          "Adds the nonce to <state-dir>/macaroon/revoked.json; a running plugin refuses it within a second.\n" +
          "A nonce that starts with '-' goes after --: agent id revoke -- -AbC...",
      )
      .example("agent id revoke 3kq2XbT9Yw1_rPz0aLmN7Q")
      .action((target: unknown, options: Record<string, unknown>) =>
        changing(options, ["revocations"], (ctx, a) => revokeToken(ctx, a, target))
      );

    cli
      .command("rotate", "Add a new current root key (older keys keep verifying until retired)")
      .option("--json", "Print the new key id and root macaroon as JSON")
      .usage("rotate [--json]\n\nPrints the new root macaroon alone on the last line of stdout.")
      .example("agent id rotate && agent id retire OLDKEYID")
      .action((options: Record<string, unknown>) => changing(options, ["keyring"], rotateKey));

    cli
      .command("retire <keyId>", "Stop accepting tokens signed with a key")
      .usage("retire KEYID\n\nThe current key cannot be retired: rotate first. See `agent id keys`.")
      .example("agent id retire 1a2b3c4d")
      .action((keyId: unknown, options: Record<string, unknown>) =>
        changing(options, ["keyring"], (ctx, a) => retireKey(ctx, a, keyId))
      );

    cli
      .command("keys", "List the root keys: id, status, creation time")
      .option("--json", "Print the list as JSON")
      .usage("keys [--json]")
      .example("agent id keys --json")
      .action((options: Record<string, unknown>) => listKeys(ctx, args(options)));

    cli
      .command("destroy", "Delete the root keys: requests no longer need macaroons")
      .option("--id <token>", "The root macaroon (default: the docker client's X-Macaroon from config.json)")
      .usage(
        "destroy [--id ROOT_MACAROON]\n\n" +
          "Requires the root macaroon of an active key (`agent id show`), not a minted or attenuated token.\n" +
          "Deletes keys.json and revoked.json; every token minted here becomes worthless.",
      )
      .example('agent id destroy --id "$(agent id show)"')
      .action((options: Record<string, unknown>) => changing(options, ["keyring", "revocations"], destroy));

    return cli;
  },
};
