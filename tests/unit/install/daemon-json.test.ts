import { describe, expect, test } from "bun:test";
import { AgentError } from "../../../src/errors.ts";
import {
  authorizationPlugins,
  withAuthorizationPlugin,
  withoutAuthorizationPlugin,
} from "../../../src/install/index.ts";
import vectors from "../../vectors/install/daemon-json.json" with { type: "json" };

interface Case {
  readonly id: number;
  readonly title: string;
  readonly op: "add" | "remove";
  readonly input: string | null;
  readonly expected?: string;
  readonly changed?: boolean;
  readonly error?: string;
}

const FILE = "daemon.json";

function apply(c: Case) {
  return c.op === "add"
    ? withAuthorizationPlugin(c.input ?? undefined, "agent", FILE)
    : withoutAuthorizationPlugin(c.input ?? "", "agent", FILE);
}

function caught(run: () => unknown): AgentError {
  try {
    run();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error("expected an AgentError");
}

describe("daemon.json vectors (tests/vectors/install/daemon-json.json)", () => {
  for (const c of vectors.cases as Case[]) {
    test(`#${c.id} ${c.title}`, () => {
      if (c.error !== undefined) {
        const err = caught(() => apply(c));
        expect([err.code, err.message]).toEqual(["ERR_DOCKER_CONFIG", c.error]);
        return;
      }
      const result = apply(c);
      expect(result).toEqual({ text: c.expected!, changed: c.changed! });
      // What is written is always valid JSON that lists the plugin exactly as asked.
      if (result.changed) {
        const listed = authorizationPlugins(result.text, FILE);
        expect(listed.filter((n) => n === "agent").length).toBe(c.op === "add" ? 1 : 0);
      }
    });
  }
});

describe("daemon.json", () => {
  test("adding twice lists the plugin once", () => {
    const once = withAuthorizationPlugin("{}", "agent", FILE);
    const twice = withAuthorizationPlugin(once.text, "agent", FILE);
    expect(twice).toEqual({ text: once.text, changed: false });
    expect(authorizationPlugins(twice.text, FILE)).toEqual(["agent"]);
  });

  test("add then remove gives back the same settings", () => {
    const original = { "log-driver": "journald", "live-restore": true, "authorization-plugins": ["opa"] };
    const added = withAuthorizationPlugin(JSON.stringify(original), "agent", FILE);
    const removed = withoutAuthorizationPlugin(added.text, "agent", FILE);
    expect(JSON.parse(removed.text)).toEqual(original);
  });

  test("an absent file configures no plugins", () => {
    expect(authorizationPlugins(undefined, FILE)).toEqual([]);
  });

  test("the error never quotes the file's content (it may hold credentials)", () => {
    const secret = "s3cr3t-registry-password";
    const err = caught(() =>
      withAuthorizationPlugin(`{"registry-password": "${secret}" oops}`, "agent", FILE)
    );
    expect(err.code).toBe("ERR_DOCKER_CONFIG");
    expect(`${err.message} ${err.detail ?? ""}`).not.toContain(secret);
  });

  test("truncations and byte flips of a valid file either parse or fail with ERR_DOCKER_CONFIG", () => {
    const valid = JSON.stringify({
      debug: true,
      "authorization-plugins": ["opa", "agent"],
      hosts: ["fd://"],
    });
    let state = 12345;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
    const inputs: string[] = [];
    for (let i = 0; i <= valid.length; i++) inputs.push(valid.slice(0, i));
    for (let i = 0; i < 300; i++) {
      const chars = [...valid];
      chars[next() % chars.length] = String.fromCharCode(next() % 128);
      inputs.push(chars.join(""));
    }
    for (const input of inputs) {
      for (
        const run of [
          () => withAuthorizationPlugin(input, "agent", FILE),
          () => withoutAuthorizationPlugin(input, "agent", FILE),
        ]
      ) {
        try {
          const result = run();
          expect(typeof JSON.parse(result.text === "" ? "{}" : result.text)).toBe("object");
        } catch (err) {
          expect(err instanceof AgentError ? err.code : `raw ${String(err)}`).toBe("ERR_DOCKER_CONFIG");
        }
      }
    }
  });
});
