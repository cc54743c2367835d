import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { policyCommands } from "../../../src/cli/policy.ts";
import { DEMO_POLICY, loadPolicy } from "../../../src/policy/index.ts";
import { type CliRun, removeTempDirs, runAgent, tempDir } from "./context.ts";

const POLICY = `version: 1
administrators: [alice]
rules:
  - id: bob-runs
    who: bob
    allow: [container:create, container:list]
  - id: socket-lists
    who: anonymous
    allow: container:list
  - id: nobody-privileged
    description: no privileged containers here
    who: ["*"]
    deny: [container:create]
    when: { privileged: true }
  - id: monitoring-gets
    who: monitoring
    methods: [GET]
    uri: '^/v1\\.[0-9]+/containers/'
`;
const POLICY_HASH = bytesToHex(sha256(new TextEncoder().encode(POLICY)));

/** The same policy with a typo in a rule key on line 6, column 5. */
const BROKEN_POLICY = POLICY.replace("    allow: [container:create", "    alow: [container:create");

let dir = "";
let policyFile = "";
let brokenFile = "";
const bodies: Record<string, string> = {};

beforeAll(async () => {
  dir = await tempDir();
  policyFile = join(dir, "policy.yaml");
  brokenFile = join(dir, "broken.yaml");
  await writeFile(policyFile, POLICY);
  await writeFile(brokenFile, BROKEN_POLICY);
  const json: Record<string, unknown> = {
    plain: { Image: "alpine", HostConfig: { Privileged: false } },
    privileged: { Image: "alpine", HostConfig: { Privileged: true } },
    lowerCase: { image: "alpine", hostconfig: { privileged: true } },
  };
  for (const [name, body] of Object.entries(json)) {
    bodies[name] = join(dir, `${name}.json`);
    await writeFile(bodies[name], JSON.stringify(body));
  }
});

afterAll(removeTempDirs);

function policy(...args: string[]): Promise<CliRun> {
  return runAgent(["policy", ...args], [policyCommands]);
}

function decide(...args: string[]): Promise<CliRun> {
  return policy("test", "--policy", policyFile, ...args);
}

function bodyFile(name: string): string {
  const file = bodies[name];
  if (file === undefined) throw new Error(`no body file ${name}`);
  return file;
}

interface JsonDecision {
  readonly allow: boolean;
  readonly action: string | null;
  readonly effect: "read" | "write" | null;
  readonly ruleId: string | null;
  readonly reason: string;
  readonly policyHash: string;
}

async function decideJson(...args: string[]): Promise<{ run: CliRun; decision: JsonDecision }> {
  const run = await decide(...args, "--json");
  return { run, decision: JSON.parse(run.out) as JsonDecision };
}

const CREATE = ["--user", "bob", "--method", "POST", "--uri", "/v1.41/containers/create"];

describe("agent policy check", () => {
  test("a valid file prints its rule count and sha256 and exits 0", async () => {
    const run = await policy("check", policyFile);
    expect(run).toEqual({ code: 0, out: `${policyFile}: ok, 4 rules, sha256 ${POLICY_HASH}\n`, err: "" });
  });

  test("without a file argument it checks $AGENT_POLICY", async () => {
    const run = await runAgent(["policy", "check"], [policyCommands], { env: { AGENT_POLICY: policyFile } });
    expect(run.code).toBe(0);
    expect(run.out).toBe(`${policyFile}: ok, 4 rules, sha256 ${POLICY_HASH}\n`);
  });

  test("an invalid file names file:line:col on stderr and exits 1", async () => {
    const run = await policy("check", brokenFile);
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    expect(run.err).toBe(
      `agent: ${brokenFile}:6:5: unknown key "alow" in a rule ` +
        "(expected one of: id, description, who, allow, deny, methods, uri, effect, when) [ERR_POLICY_INVALID]\n",
    );
  });

  test("an action pattern that matches no action is refused at its position", async () => {
    const file = join(dir, "typo.yaml");
    await writeFile(file, POLICY.replace("container:list]", "contianer:list]"));
    const run = await policy("check", file);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`${file}:6:31: action pattern "contianer:list" matches no known action`);
  });

  test("a missing file says so clearly and exits 1", async () => {
    const missing = join(dir, "no-such-policy.yaml");
    const run = await policy("check", missing);
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    expect(run.err).toBe(`agent: no policy file at ${missing} [ERR_POLICY_MISSING]\n`);
  });
});

describe("agent policy test", () => {
  test("an allowed request prints allow with the rule and exits 0", async () => {
    const run = await decide(...CREATE, "--body", bodyFile("plain"));
    expect(run).toEqual({
      code: 0,
      out: "allow  action=container:create  effect=write  rule=bob-runs\n  allowed by rule bob-runs\n",
      err: "",
    });
  });

  test("a request no rule allows prints deny without a rule and exits 1", async () => {
    const run = await decide("--user", "mallory", "--method", "GET", "--uri", "/v1.41/containers/json");
    expect(run).toEqual({
      code: 1,
      out:
        "deny  action=container:list  effect=read  rule=(none)\n  no rule allows container:list for mallory\n",
      err: "",
    });
  });

  test("--json prints one object with allow, action, effect, ruleId, reason and the policy hash", async () => {
    const { run, decision } = await decideJson(...CREATE, "--body", bodyFile("plain"));
    expect(run.code).toBe(0);
    expect(run.out.endsWith("}\n")).toBe(true);
    expect(run.out.trim().includes("\n")).toBe(false);
    expect(decision).toEqual({
      allow: true,
      action: "container:create",
      effect: "write",
      ruleId: "bob-runs",
      reason: "allowed by rule bob-runs",
      policyHash: POLICY_HASH,
    });
  });

  test("--json gives null ruleId for a default deny", async () => {
    const { run, decision } = await decideJson(
      "--user",
      "mallory",
      "--method",
      "GET",
      "--uri",
      "/containers/json",
    );
    expect(run.code).toBe(1);
    expect(decision).toEqual({
      allow: false,
      action: "container:list",
      effect: "read",
      ruleId: null,
      reason: "no rule allows container:list for mallory",
      policyHash: POLICY_HASH,
    });
  });

  test("a body with a privileged HostConfig is denied by the when-rule", async () => {
    const { run, decision } = await decideJson(...CREATE, "--body", bodyFile("privileged"));
    expect(run.code).toBe(1);
    expect(decision.allow).toBe(false);
    expect(decision.ruleId).toBe("nobody-privileged");
    expect(decision.reason).toBe("denied by rule nobody-privileged: no privileged containers here");
  });

  test("lower-case hostconfig and privileged keys are denied too (Go reads keys case-insensitively)", async () => {
    const { run, decision } = await decideJson(...CREATE, "--body", bodyFile("lowerCase"));
    expect(run.code).toBe(1);
    expect(decision.ruleId).toBe("nobody-privileged");
  });

  test("a create without a body is denied by the when-rule (fail closed)", async () => {
    const { run, decision } = await decideJson(...CREATE);
    expect(run.code).toBe(1);
    expect(decision.ruleId).toBe("nobody-privileged");
  });

  test("a JSON content type without a forwarded body is refused before the policy", async () => {
    const { run, decision } = await decideJson(...CREATE, "--header", "Content-Type: application/json");
    expect(run.code).toBe(1);
    expect(decision.allow).toBe(false);
    expect(decision.reason).toContain("request body was not forwarded by dockerd");
  });

  test("an unknown route is denied with its method and path, even for a user with rules", async () => {
    const { run, decision } = await decideJson(
      "--user",
      "bob",
      "--method",
      "GET",
      "--uri",
      "/v1.41/nonsense",
    );
    expect(run.code).toBe(1);
    expect(decision).toEqual({
      allow: false,
      action: null,
      effect: null,
      ruleId: null,
      reason: "unknown API route GET /nonsense",
      policyHash: POLICY_HASH,
    });
    const text = await decide("--user", "bob", "--method", "GET", "--uri", "/v1.41/nonsense");
    expect(text.out).toBe("deny  action=(unknown route)  rule=(none)\n  unknown API route GET /nonsense\n");
  });

  test("a percent-encoded path is judged like the plain one", async () => {
    for (const uri of ["/v1.41/containers%2Fcreate", "/%63ontainers/create", "/v1.41/containers/cr%65ate"]) {
      for (const body of ["plain", "privileged"]) {
        const plain = await decideJson(...CREATE, "--body", bodyFile(body));
        const encoded = await decideJson(
          "--user",
          "bob",
          "--method",
          "POST",
          "--uri",
          uri,
          "--body",
          bodyFile(body),
        );
        expect({ uri, body, ...encoded.decision }).toEqual({ uri, body, ...plain.decision });
        expect(encoded.run.code).toBe(plain.run.code);
      }
    }
  });

  test("a path with invalid percent-encoding is denied", async () => {
    const { run, decision } = await decideJson(
      "--user",
      "bob",
      "--method",
      "GET",
      "--uri",
      "/containers%zz/json",
    );
    expect(run.code).toBe(1);
    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe("request URI has invalid percent-encoding");
  });

  test("without --user the request is anonymous (the unix socket)", async () => {
    const allowed = await decide("--method", "GET", "--uri", "/containers/json");
    expect(allowed.code).toBe(0);
    expect(allowed.out).toContain("rule=socket-lists");
    const denied = await decide(
      "--method",
      "POST",
      "--uri",
      "/containers/create",
      "--body",
      bodyFile("plain"),
    );
    expect(denied.code).toBe(1);
    expect(denied.out).toContain("no rule allows container:create for anonymous");
  });

  test("the method is upper-cased as dockerd reports it", async () => {
    const run = await decide("--user", "bob", "--method", "get", "--uri", "/v1.41/containers/json");
    expect(run.code).toBe(0);
    expect(run.out).toContain("rule=bob-runs");
  });

  test("--demo uses the embedded demo policy", async () => {
    const run = await policy("test", ...CREATE, "--demo", "--body", bodyFile("privileged"), "--json");
    const decision = JSON.parse(run.out) as JsonDecision;
    expect(run.code).toBe(1);
    expect(decision.ruleId).toBe("developers-no-privileged");
    expect(decision.policyHash).toBe(loadPolicy(DEMO_POLICY, "demo").hash);
  });

  test("a broken policy file is reported, not used", async () => {
    const run = await policy("test", "--policy", brokenFile, ...CREATE.slice(2));
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    expect(run.err).toContain(`${brokenFile}:6:5: unknown key "alow"`);
  });

  test("a GET-only seed rule does not reach the websocket attach, a GET that writes; the output says so", async () => {
    const read = await decide(
      "--user",
      "monitoring",
      "--method",
      "GET",
      "--uri",
      "/v1.41/containers/web/json",
    );
    expect(read.out).toBe(
      "allow  action=container:inspect  effect=read  rule=monitoring-gets\n  allowed by rule monitoring-gets\n",
    );
    const attach = "/v1.41/containers/web/attach/ws?stream=1&stdin=1";
    const ws = await decide("--user", "monitoring", "--method", "GET", "--uri", attach);
    expect(ws).toEqual({
      code: 1,
      out:
        "deny  action=container:attach  effect=write  rule=(none)\n  no rule allows container:attach for monitoring\n",
      err: "",
    });
    const json = await decideJson("--user", "monitoring", "--method", "GET", "--uri", attach);
    expect(json.decision).toMatchObject({ allow: false, action: "container:attach", effect: "write" });
  });

  test("a read route asked for with an Upgrade header counts as a write", async () => {
    const { run, decision } = await decideJson(
      "--user",
      "monitoring",
      "--method",
      "GET",
      "--uri",
      "/v1.41/containers/web/json",
      "--header",
      "Connection: Upgrade",
      "--header",
      "Upgrade: tcp",
    );
    expect(run.code).toBe(1);
    expect(decision).toMatchObject({
      allow: false,
      action: "container:inspect",
      effect: "write",
      ruleId: null,
    });
  });

  test("a missing --method or --uri is a usage error (exit 2)", async () => {
    const run = await decide("--user", "bob", "--uri", "/containers/json");
    expect(run).toEqual({
      code: 2,
      out: "",
      err: "agent: policy test needs --method and --uri [ERR_USAGE]\n",
    });
  });

  test("a missing body file is a failure naming the file", async () => {
    const missing = join(dir, "no-body.json");
    const run = await decide(...CREATE, "--body", missing);
    expect(run.code).toBe(1);
    expect(run.err).toContain(missing);
    expect(run.err).toContain("[ERR_STATE_IO]");
  });
});

describe("agent policy actions", () => {
  test("lists container:create with its effect, method and path", async () => {
    const run = await policy("actions");
    expect(run.code).toBe(0);
    const line = run.out.split("\n").find((l) => l.startsWith("container:create "));
    expect(line?.split(/\s+/)).toEqual(["container:create", "write", "POST", "/containers/create"]);
    expect(run.out).toMatch(/^system:ping +read +HEAD +\/_ping$/m);
    expect(run.out).toMatch(/^container:attach +write +GET +\/containers\/\{name:\.\*\}\/attach\/ws$/m);
  });

  test("--json lists routes as method, pattern, action, effect and description", async () => {
    const run = await policy("actions", "--json");
    expect(run.code).toBe(0);
    const routes = JSON.parse(run.out) as Array<Record<string, unknown>>;
    const create = routes.find((r) => r["action"] === "container:create");
    expect(create).toMatchObject({ method: "POST", pattern: "/containers/create", effect: "write" });
    expect(typeof create?.["description"]).toBe("string");
    for (const route of routes) {
      expect(Object.keys(route).sort()).toEqual(["action", "description", "effect", "method", "pattern"]);
    }
  });
});

describe("agent policy demo", () => {
  test("prints a policy that loads", async () => {
    const run = await policy("demo");
    expect(run.code).toBe(0);
    expect(run.err).toBe("");
    expect(run.out).toBe(DEMO_POLICY);
    const demo = loadPolicy(run.out, "demo.yaml");
    expect(demo.ruleCount).toBe(13);
  });

  test("the printed demo passes policy check", async () => {
    const file = join(dir, "demo.yaml");
    await writeFile(file, (await policy("demo")).out);
    const run = await policy("check", file);
    expect(run.code).toBe(0);
    expect(run.out).toContain(": ok, 13 rules, sha256 ");
  });
});
