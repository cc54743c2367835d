/**
 * The command line keeps every value exactly as typed, for every command: the reader in src/cli/argv.ts,
 * driven through real command groups. Each case failed on the cac/mri reading it replaced.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cac } from "cac";
import { parseCommandLine } from "../../../src/cli/argv.ts";
import { commandGroups } from "../../../src/cli/commands.ts";
import { integer, passthrough, REPEATABLE } from "../../../src/cli/option-kinds.ts";
import { removeTempDirs, runAgent, tempDir } from "./context.ts";

afterAll(removeTempDirs);

const agent = (argv: readonly string[]) => runAgent(argv, commandGroups);

function sample() {
  const cli = cac("agent x");
  cli.option("--state-dir <dir>", "state");
  cli.command("make", "makes").option("--name <name>", "a name").option("--ou <g>", "groups", REPEATABLE)
    .option("--days <n>", "days", integer(1, 30)).option("--json", "json").option("--no-local", "no local");
  passthrough(cli.command("run <token> [...command]", "runs"));
  return cli;
}

describe("the command line reader", () => {
  test("keeps values that look like numbers as the exact strings typed", () => {
    const parsed = parseCommandLine(
      sample(),
      ["make", "--name", "007", "--state-dir=0042", "--ou", "1e5"],
      "agent x",
    );
    expect(parsed.options["name"]).toBe("007");
    expect(parsed.options["stateDir"]).toBe("0042");
    expect(parsed.options["ou"]).toEqual(["1e5"]);
  });

  test("gives a declared integer option a number, and refuses anything else naming the option", () => {
    expect(parseCommandLine(sample(), ["make", "--days", "07"], "agent x").options["days"]).toBe(7);
    for (const bad of ["abc", "0", "31", "1.5", "-5", " 3"]) {
      expect(() => parseCommandLine(sample(), ["make", "--days", bad], "agent x")).toThrow(
        `--days must be a whole number from 1 to 30 (got ${JSON.stringify(bad)})`,
      );
    }
  });

  test("takes the next word as the value even when it starts with -, unless it is one of the options", () => {
    expect(parseCommandLine(sample(), ["make", "--name", "-5"], "agent x").options["name"]).toBe("-5");
    expect(() => parseCommandLine(sample(), ["make", "--name", "--json"], "agent x")).toThrow(
      "--name needs a value",
    );
    expect(() => parseCommandLine(sample(), ["make", "--name"], "agent x")).toThrow("--name needs a value");
  });

  test("refuses an empty value, a repeated single option and a value for a flag", () => {
    expect(() => parseCommandLine(sample(), ["make", "--name", ""], "agent x")).toThrow(
      "--name needs a value; it was given an empty one",
    );
    expect(() => parseCommandLine(sample(), ["make", "--state-dir="], "agent x")).toThrow(
      "--state-dir needs a value; it was given an empty one",
    );
    expect(() => parseCommandLine(sample(), ["make", "--name", "a", "--name=b"], "agent x")).toThrow(
      "--name may be given only once",
    );
    expect(() => parseCommandLine(sample(), ["make", "--json=yes"], "agent x")).toThrow(
      "--json takes no value",
    );
  });

  test("keeps repeated values in order and negated flags as false", () => {
    const parsed = parseCommandLine(sample(), ["make", "--ou", "b", "--no-local", "--ou=a"], "agent x");
    expect(parsed.options["ou"]).toEqual(["b", "a"]);
    expect(parsed.options["local"]).toBe(false);
    expect(parseCommandLine(sample(), ["make"], "agent x").options["local"]).toBe(true);
  });

  test("names an unknown option as typed, with the nearest real one", () => {
    expect(() => parseCommandLine(sample(), ["make", "--nmae", "x"], "agent x")).toThrow(
      "unknown option --nmae (did you mean --name?); `agent x make --help` lists the options",
    );
    expect(() => parseCommandLine(sample(), ["make", "--stateDir", "x"], "agent x")).toThrow(
      "unknown option --stateDir (did you mean --state-dir?)",
    );
  });

  test("hands everything after a passthrough command's fixed words on untouched, with or without --", () => {
    for (
      const argv of [["run", "T", "docker", "ps", "-a", "--name", "x"], [
        "run",
        "T",
        "--",
        "docker",
        "ps",
        "-a",
        "--name",
        "x",
      ]]
    ) {
      const parsed = parseCommandLine(sample(), argv, "agent x");
      expect(parsed.args).toEqual(["T", "docker", "ps", "-a", "--name", "x"]);
      expect(parsed.help).toBe(false);
    }
    expect(parseCommandLine(sample(), ["run", "T", "docker", "--help"], "agent x").help).toBe(false);
  });

  test("an unknown command is an error naming it", () => {
    expect(() => parseCommandLine(sample(), ["frob", "--help"], "agent x")).toThrow(
      "unknown command: agent x frob",
    );
  });
});

describe("every command reads its options exactly", () => {
  test("--state-dir 0042 writes into ./0042, not 42 or the default", async () => {
    const root = await tempDir();
    const dir = join(root, "0042");
    const r = await agent(["ca", "init", "--state-dir", dir, "--name", "007"]);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "ca", "cluster.crt"))).toBe(true);
    const list = await agent(["ca", "list", "--state-dir", dir, "--json"]);
    expect(list.code).toBe(0);
    const info = await agent(["ca", "init", "--state-dir", dir, "--name", "007", "--json", "--force"]);
    expect(JSON.parse(info.out).subject ?? JSON.parse(info.out).name).toContain("007");
  });

  test("an empty value where a path or name is needed is a usage error (exit 2) for every command", async () => {
    for (
      const argv of [
        ["ca", "init", "--state-dir", ""],
        ["id", "init", "--state-dir="],
        ["serve", "--policy", ""],
        ["policy", "test", "--demo", "--user", "", "--method", "GET", "--uri", "/_ping"],
        ["audit", "tail", "--audit-log", ""],
        ["doctor", "--socket", ""],
      ]
    ) {
      const r = await agent(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toContain("needs a value; it was given an empty one");
    }
  });

  test("--ou 007 issues OU=007 and --out 0042 writes into ./0042", async () => {
    const root = await tempDir();
    const state = join(root, "state");
    expect((await agent(["ca", "init", "--state-dir", state])).code).toBe(0);
    const out = join(root, "0042");
    const r = await agent([
      "ca",
      "create-api-certificate",
      "alice",
      "--state-dir",
      state,
      "--ou",
      "007",
      "--out",
      out,
      "--json",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).subject).toBe("CN=alice, OU=007");
    expect(existsSync(join(out, "alice.crt"))).toBe(true);
  });

  test("policy test --user 007 decides for the user 007", async () => {
    const root = await tempDir();
    const policy = join(root, "policy.yaml");
    writeFileSync(policy, 'version: 1\nrules:\n  - id: seven\n    who: "007"\n    allow: ["*"]\n');
    const r = await agent([
      "policy",
      "test",
      "--policy",
      policy,
      "--user",
      "007",
      "--method",
      "GET",
      "--uri",
      "/containers/json",
      "--json",
    ]);
    expect(JSON.parse(r.out)).toMatchObject({ allow: true, ruleId: "seven" });
    expect(readFileSync(policy, "utf8")).toContain("007");
  });

  test("an unknown option is echoed as typed, not camelCased", async () => {
    const r = await agent(["ca", "create-api-certificate", "alice", "--docker-layot"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "agent: unknown option --docker-layot (did you mean --docker-layout?); `agent ca create-api-certificate --help` lists the options [ERR_USAGE]\n",
    );
  });

  test("audit tail -n takes a whole number: abc, '' and -1 are usage errors, 0 prints nothing", async () => {
    const root = await tempDir();
    const log = join(root, "audit.log");
    writeFileSync(log, ['{"allow":true,"reason":"a"}', '{"allow":true,"reason":"b"}', ""].join("\n"));
    for (const bad of ["abc", "", "-1"]) {
      const r = await agent(["audit", "tail", "--audit-log", log, "-n", bad]);
      expect({ bad, code: r.code, out: r.out }).toEqual({ bad, code: 2, out: "" });
    }
    expect((await agent(["audit", "tail", "--audit-log", log, "-n", "0"])).out).toBe("");
    expect((await agent(["audit", "tail", "--audit-log", log, "-n", "1", "--json"])).out).toBe(
      '{"allow":true,"reason":"b"}\n',
    );
  });

  test("agent NOSUCH --help is an unknown command (exit 2), not an empty usage", async () => {
    const r = await agent(["nosuch", "--help"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown command: agent nosuch");
    expect(r.out).toBe("");
  });

  test("help lists -h, --help once, in every group", async () => {
    for (
      const argv of [
        ["ca", "--help"],
        ["id", "--help"],
        ["ca", "init", "--help"],
        ["id", "create", "--help"],
        ["serve", "--help"],
        ["policy", "test", "--help"],
        ["audit", "tail", "--help"],
      ]
    ) {
      const r = await agent(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 0 });
      expect({ argv, count: r.out.split("-h, --help").length - 1 }).toEqual({ argv, count: 1 });
    }
  });
});

describe("mistakes a new user makes get a sentence, not a guess", () => {
  test("serve --socket-mode 999 or abc is a usage error before anything is created", async () => {
    const root = await tempDir();
    for (const mode of ["999", "abc", "7777", "66"]) {
      const state = join(root, `state-${mode}`);
      const r = await agent([
        "serve",
        "--demo",
        "--state-dir",
        state,
        "--socket",
        join(root, "a.sock"),
        "--socket-mode",
        mode,
      ]);
      expect({ mode, code: r.code }).toEqual({ mode, code: 2 });
      expect(r.err).toContain(`--socket-mode must be an octal file mode such as 660 or 0660 (got "${mode}")`);
      expect(existsSync(state)).toBe(false);
    }
  });

  test("--policy FILE with --demo is refused instead of silently using the demo", async () => {
    for (
      const argv of [["serve", "--policy", "p.yaml", "--demo"], [
        "policy",
        "test",
        "--policy",
        "p.yaml",
        "--demo",
        "--method",
        "GET",
        "--uri",
        "/_ping",
      ]]
    ) {
      const r = await agent(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toContain("give --policy FILE or --demo, not both");
    }
  });

  test("policy check without a file says how to name one, not a flag it does not have", async () => {
    const r = await runAgent(["policy", "check"], commandGroups, {
      env: { AGENT_POLICY: "/nonexistent/policy.yaml" },
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain("name the file to check (agent policy check FILE)");
    expect(r.err).not.toContain("--policy");
  });

  test("a missing or directory --secret-file is named in a sentence, not ENOENT or EISDIR", async () => {
    const root = await tempDir();
    const missing = await agent([
      "id",
      "init",
      "--state-dir",
      join(root, "s"),
      "--secret-file",
      join(root, "nope"),
    ]);
    expect(missing.err).toBe(
      `agent: cannot use ${join(root, "nope")}: no such file or directory [ERR_STATE_IO]\n`,
    );
    const dir = await agent(["id", "init", "--state-dir", join(root, "s"), "--secret-file", root]);
    expect(dir.err).toBe(`agent: cannot use ${root}: it is a directory, not a file [ERR_STATE_IO]\n`);
  });

  test("a bad --san names the value it refused, escaped", async () => {
    const root = await tempDir();
    const state = join(root, "state");
    expect((await agent(["ca", "init", "--state-dir", state])).code).toBe(0);
    const r = await agent([
      "ca",
      "create-server-certificate",
      "h",
      "--state-dir",
      state,
      "--out",
      root,
      "--san",
      "a_b!\u001b",
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('(got "a_b!\\u001b")');
  });

  test("id create --from ROOT,DISCHARGE says a stack cannot be attenuated, not just 'malformed'", async () => {
    const root = await tempDir();
    const token = (await agent(["id", "init", "--state-dir", root])).out.trim().split("\n").pop()!;
    const r = await agent(["id", "create", "--from", `${token},${token}`]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--from takes one macaroon, but this holds 2");
    expect((await agent(["id", "create", "--from", "nonsense"])).err).toContain("--from is not a macaroon");
  });

  test("--expires -5 is read as a value and refused as one", async () => {
    const root = await tempDir();
    await agent(["id", "init", "--state-dir", root]);
    const r = await agent(["id", "create", "--state-dir", root, "--expires", "-5"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--expires takes a positive whole number of seconds");
  });
});
