/**
 * `agent apikey ...`: API keys for the agent's HTTPS API (`Authorization: Basic user:apikey`). `create`
 * prints a new key once, alone on the last line of stdout; `list` shows what is kept (never the key);
 * `revoke` refuses a key from then on. The state directory keeps only each key's SHA-256 digest.
 */
import { cac } from "cac";
import { API_KEY_LENGTH, MAX_API_KEY_NAME_LENGTH, MAX_API_KEYS } from "../apikey/index.ts";
import { create, list, revoke } from "./apikey/keys.ts";
import { DEFAULT_STATE_DIR } from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { changingAction, IdArgs } from "./id/common.ts";

export const apikeyCommands: CommandGroup = {
  name: "apikey",
  summary: "API keys for the HTTPS API: create, list, revoke, set (for the docker client)",
  overview:
    `API keys for the agent's HTTPS API: agt_ and ${
      API_KEY_LENGTH - 4
    } letters and digits (256 random bits and a checksum),\n` +
    "sent as `Authorization: Basic base64(user:apikey)`. Only each key's SHA-256 digest is kept, in\n" +
    "<state-dir>/apikeys.json (mode 0600); a running `agent serve` picks up changes within a second.",
  build(ctx) {
    const cli = cac("agent apikey");
    cli.option("--state-dir <dir>", `State directory (default $AGENT_STATE_DIR or ${DEFAULT_STATE_DIR})`);
    const args = (options: Record<string, unknown>) => new IdArgs(options);
    // Commands that change the keys confirm that the running agent applied the change.
    const changing = changingAction(ctx);

    cli
      .command("create <user>", "Make a new API key for a user and print it once")
      .option(
        "--name <label>",
        `A label for the key (at most ${MAX_API_KEY_NAME_LENGTH} printable ASCII characters)`,
      )
      .option(
        "--expires <duration>",
        "Valid for this long: seconds, or 90m, 12h, 30d (default: never expires)",
      )
      .usage(
        "create USER [--name LABEL] [--expires DURATION]\n\n" +
          "USER follows the certificate user-name rules (what the policy matches). The key prints alone on\n" +
          "the last line of stdout, this once: it cannot be shown again (only its digest is kept).\n" +
          "Explanations, and the lines a client needs, go to stderr. The expiry is written as an absolute\n" +
          `UTC time. A state directory holds at most ${MAX_API_KEYS} keys, revoked ones included.`,
      )
      .example("KEY=$(agent apikey create alice --name laptop --expires 30d)")
      .example("agent apikey create ci-bot --expires 12h")
      .action((user: unknown, options: Record<string, unknown>) =>
        changing(options, ["apikeys"], (ctx, a) => create(ctx, a, user))
      );

    cli
      .command("list", "List the API keys: id, prefix, user, name, times, status (never the key)")
      .option("--json", "Print the list as JSON (with revokedAt and lastUsedAt)")
      .usage("list [--json]\n\nStatus is active, expired or revoked. Revoked keys stay listed.")
      .example("agent apikey list --json")
      .action((options: Record<string, unknown>) => list(ctx, args(options)));

    cli
      .command("revoke <target>", "Refuse an API key from now on (by id or prefix)")
      .usage(
        "revoke ID|PREFIX\n\n" +
          "TARGET is the key's id or its prefix as `agent apikey list` shows them (agt_ optional), or the\n" +
          "full key. When a prefix names more than one key, give the id. Revoking twice is not an error.",
      )
      .example("agent apikey revoke 3f9a0c1b2d4e")
      .example("agent apikey revoke agt_7Kx2mPq9")
      .action((target: unknown, options: Record<string, unknown>) =>
        changing(options, ["apikeys"], (ctx, a) => revoke(ctx, a, target))
      );

    cli
      .command("set [user]", "Make an API key the docker client's default (config.json HttpHeaders)")
      .option("--ca <file>", "Also copy the agent's CA certificate (PEM) to ca.pem, for docker --tlsverify")
      .option("--force", "With --ca: replace a ca.pem that holds a different certificate")
      .option("--clear", "Remove the Authorization header instead")
      .usage(
        "set USER [--ca FILE [--force]] | set --clear\n\n" +
          "Edits $DOCKER_CONFIG/config.json (else ~/.docker/config.json): HttpHeaders.Authorization =\n" +
          "Basic base64(USER:KEY), which the docker CLI sends on every call (for the agent's gateway,\n" +
          "`agent serve --listen ADDR:PORT --gateway`). Every other key is kept; the file is written atomically\n" +
          "with mode 0600. The key is never an argument (ps and shell history would show it): it comes from\n" +
          "$AGENT_APIKEY, else from the last non-empty line of stdin (typing it: paste, Enter, then Ctrl-D).\n" +
          "USER and the key (its checksum catches typos) are checked before anything is written; neither the\n" +
          "key nor the header is ever printed.\n" +
          "--ca copies the agent's CA certificate (<state-dir>/ca/cluster.crt on its host) to ca.pem in\n" +
          "$DOCKER_CERT_PATH (else the config directory), where docker looks for it; a different ca.pem is\n" +
          "kept unless --force. Then: export DOCKER_HOST=tcp://HOST:PORT DOCKER_TLS_VERIFY=1",
      )
      .example("agent apikey create alice --expires 30d | agent apikey set alice --ca cluster.crt")
      .example('AGENT_APIKEY="$KEY" agent apikey set alice')
      .example("agent apikey set --clear")
      // Loaded here: only `set` reads certificates (the X.509 library), the other commands never do.
      .action(async (user: unknown, options: Record<string, unknown>) =>
        (await import("./apikey/client.ts")).set(ctx, args(options), user)
      );

    return cli;
  },
};
