/** Every way a policy file can be wrong is a typed error naming file:line:column. */
import { describe, expect, test } from "bun:test";
import { AgentError } from "../../../src/errors.ts";
import { loadPolicy, MAX_POLICY_BYTES, MAX_RULES } from "../../../src/policy/index.ts";

function loadError(text: string): AgentError {
  try {
    loadPolicy(text, "policy.yaml");
  } catch (error) {
    if (error instanceof AgentError) return error;
    throw error;
  }
  throw new Error("policy loaded, but an error was expected");
}

function expectInvalid(text: string, message: string): void {
  const error = loadError(text);
  expect({ code: error.code, message: error.message }).toEqual({ code: "ERR_POLICY_INVALID", message });
}

/** A policy whose rules section is `body`. */
const withRules = (body: string) => `version: 1\nrules:\n${body}`;

describe("YAML syntax errors", () => {
  test("rejects an unterminated flow collection", () => {
    expectInvalid(
      "version: 1\nrules: [\n  {id: x\n",
      "policy.yaml:4:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }",
    );
  });

  test("rejects a badly indented key", () => {
    expectInvalid(
      "version: 1\nrules:\n  - id: a\n   who: bob\n",
      "policy.yaml:4:1: invalid YAML: Sequence item without - indicator",
    );
  });

  test("rejects tabs used as indentation", () => {
    expectInvalid(
      "version: 1\nrules:\n\t- id: a\n",
      "policy.yaml:3:1: invalid YAML: tabs are not allowed as indentation",
    );
  });

  test("rejects a duplicate key instead of letting the second value win", () => {
    expectInvalid(
      "version: 1\nversion: 1\nrules: []\n",
      "policy.yaml:2:1: invalid YAML: duplicate key (the second value would silently replace the first)",
    );
  });

  test("rejects a duplicate key inside a rule (a second allow would replace the first)", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: [container:list]\n    allow: ['*']\n"),
      "policy.yaml:6:5: invalid YAML: duplicate key (the second value would silently replace the first)",
    );
  });

  test("rejects several YAML documents in one file", () => {
    expectInvalid(
      "version: 1\nrules: []\n---\nversion: 1\n",
      "policy.yaml:3:1: invalid YAML: a policy file holds one YAML document (remove the extra ---)",
    );
  });

  test("rejects an unknown tag", () => {
    expectInvalid(
      "version: 1\nrules: !weird []\n",
      "policy.yaml:2:8: invalid YAML: unknown YAML tag (tags such as !name are not supported)",
    );
  });

  test("rejects aliases", () => {
    expectInvalid(
      "version: 1\ngroups:\n  a: &x [bob]\n  b: *x\nrules: []\n",
      "policy.yaml:4:6: aliases (*name) are not supported; use groups to share lists of users",
    );
  });

  test("rejects a merge key as an unknown key", () => {
    expectInvalid(
      withRules("  - id: a\n    <<: {who: bob}\n    allow: ['*']\n"),
      'policy.yaml:4:5: unknown key "<<" in a rule (expected one of: id, description, who, allow, deny, methods, uri, effect, when)',
    );
  });

  test("rejects an empty file and a file of comments", () => {
    expectInvalid("", "policy.yaml:1:1: policy file is empty (it needs at least version and rules)");
    expectInvalid(
      "# nothing\n",
      "policy.yaml:1:1: policy file is empty (it needs at least version and rules)",
    );
  });

  test("names the file it was given", () => {
    const error = loadError("version: 2\nrules: []\n");
    expect(error.message).toBe('policy.yaml:1:10: "version" must be 1');
    try {
      loadPolicy("version: 2\nrules: []\n", "/etc/agent/policy.yaml");
    } catch (e) {
      expect((e as AgentError).message).toBe('/etc/agent/policy.yaml:1:10: "version" must be 1');
    }
  });
});

describe("unknown keys", () => {
  test("rejects an unknown top-level key", () => {
    expectInvalid(
      "version: 1\nrule: []\n",
      'policy.yaml:2:1: unknown key "rule" in the policy file (expected one of: version, administrators, groups, rules)',
    );
  });

  test("rejects an unknown key in a rule", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: ['*']\n    whne: {privileged: true}\n"),
      'policy.yaml:6:5: unknown key "whne" in a rule (expected one of: id, description, who, allow, deny, methods, uri, effect, when)',
    );
  });

  test("rejects an unknown condition in when", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    deny: [container:create]\n    when: {priviliged: true}\n"),
      'policy.yaml:6:12: unknown key "priviliged" in "when" (expected one of: privileged, host_mounts, ' +
        "bind_sources, network_mode, pid_mode, ipc_mode, uts_mode, userns_mode, cgroupns_mode, cap_add, devices, " +
        "unconfined, security_opt, image, image_not, exec_user_root)",
    );
  });

  test("rejects a key that is not a string", () => {
    expectInvalid(
      "version: 1\n1: x\nrules: []\n",
      "policy.yaml:2:1: keys in the policy file must be plain strings",
    );
  });
});

describe("version", () => {
  test("rejects a missing version", () => {
    expectInvalid("rules: []\n", 'policy.yaml:1:1: missing "version" (this agent reads version: 1)');
  });

  test("rejects version 2", () => {
    expectInvalid("version: 2\nrules: []\n", 'policy.yaml:1:10: "version" must be 1');
  });

  test("rejects version given as a string", () => {
    expectInvalid('version: "1"\nrules: []\n', 'policy.yaml:1:10: "version" must be 1');
  });
});

describe("rules", () => {
  test("rejects a missing rules list", () => {
    expectInvalid(
      "version: 1\n",
      'policy.yaml:1:1: missing "rules" (a list; an empty list denies everything)',
    );
  });

  test("rejects rules that are not a list", () => {
    expectInvalid("version: 1\nrules: {a: 1}\n", 'policy.yaml:2:8: "rules" must be a list');
  });

  test("rejects a rule that is not a mapping", () => {
    expectInvalid(withRules("  - hello\n"), "policy.yaml:3:5: a rule must be a mapping");
  });

  test("rejects a duplicate rule id, naming the first use", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: ['*']\n  - id: a\n    who: carol\n    allow: ['*']\n"),
      'policy.yaml:6:9: duplicate rule id "a" (first used at policy.yaml:3:9)',
    );
  });

  test("rejects a rule without an id", () => {
    expectInvalid(withRules("  - who: bob\n    allow: ['*']\n"), 'policy.yaml:3:5: rule is missing "id"');
  });

  test("rejects rule ids with spaces or colons (builtin: ids are reserved)", () => {
    const message = "rule id must be letters, digits, '.', '_' or '-' (at most 128)";
    expectInvalid(
      withRules("  - id: 'has space'\n    who: bob\n    allow: ['*']\n"),
      `policy.yaml:3:9: ${message}`,
    );
    expectInvalid(
      withRules("  - id: 'builtin:ping'\n    who: bob\n    allow: ['*']\n"),
      `policy.yaml:3:9: ${message}`,
    );
    expectInvalid(
      withRules(`  - id: ${"a".repeat(129)}\n    who: bob\n    allow: ['*']\n`),
      `policy.yaml:3:9: ${message}`,
    );
  });

  test("rejects a rule with both allow and deny", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: ['*']\n    deny: [container:create]\n"),
      'policy.yaml:6:5: rule a has both "allow" and "deny"; write two rules',
    );
  });

  test("rejects a rule with neither allow, deny nor methods + uri", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n"),
      'policy.yaml:3:5: rule a needs "allow", "deny", or "methods" and "uri"',
    );
  });

  test("rejects a rule mixing allow with the seed form", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: ['*']\n    uri: '^/'\n"),
      'policy.yaml:6:5: rule a mixes "allow" with "uri"; use one form',
    );
  });

  test("rejects effect on an allow/deny rule", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: ['*']\n    effect: deny\n"),
      'policy.yaml:6:5: "effect" belongs to the methods + uri form; rule a already says "allow"',
    );
  });

  test("rejects an empty allow list and an allow key without a value", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow: []\n"),
      'policy.yaml:5:12: "allow" must not be empty',
    );
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    allow:\n"),
      'policy.yaml:5:11: "allow" must be a list of strings (or one string)',
    );
  });

  test("rejects an action pattern that matches no known action (a typo must not weaken a deny)", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    deny: [contianer:create]\n"),
      'policy.yaml:5:12: action pattern "contianer:create" matches no known action (see: agent policy actions)',
    );
  });

  test("rejects a policy over the rule-count limit", () => {
    const rule = (i: number) => `  - {id: r${i}, who: bob, allow: container:list}\n`;
    const many = withRules(Array.from({ length: MAX_RULES + 1 }, (_, i) => rule(i)).join(""));
    expectInvalid(many, `policy.yaml:3:3: too many rules (at most ${MAX_RULES})`);
    const most = withRules(Array.from({ length: MAX_RULES }, (_, i) => rule(i)).join(""));
    expect(loadPolicy(most, "policy.yaml").ruleCount).toBe(MAX_RULES);
  });

  test("rejects a file over the size limit before parsing it", () => {
    const text = `version: 1\nrules: []\n# ${"x".repeat(MAX_POLICY_BYTES)}\n`;
    expectInvalid(text, `policy.yaml:1:1: policy file is larger than ${MAX_POLICY_BYTES} bytes`);
  });
});

describe("who and groups", () => {
  test("rejects an unknown group", () => {
    expectInvalid(
      withRules("  - id: a\n    who: ['group:opz']\n    allow: ['*']\n"),
      'policy.yaml:4:11: unknown group "opz" (define it under "groups")',
    );
  });

  test("rejects an unknown group among the administrators", () => {
    expectInvalid(
      "version: 1\nadministrators: ['group:nope']\nrules: []\n",
      'policy.yaml:2:18: unknown group "nope" (define it under "groups")',
    );
  });

  test("rejects who of the wrong type", () => {
    expectInvalid(
      withRules("  - id: a\n    who: 5\n    allow: ['*']\n"),
      'policy.yaml:4:10: "who" must be a list of strings (or one string)',
    );
    expectInvalid(
      withRules("  - id: a\n    who: [bob, 7]\n    allow: ['*']\n"),
      'policy.yaml:4:16: "who" entries must be strings',
    );
  });

  test("rejects an empty who list", () => {
    expectInvalid(
      withRules("  - id: a\n    who: []\n    allow: ['*']\n"),
      'policy.yaml:4:10: "who" must not be empty',
    );
  });

  test("rejects a rule without who", () => {
    expectInvalid(withRules("  - id: a\n    allow: ['*']\n"), 'policy.yaml:3:5: rule a is missing "who"');
  });

  test("rejects a misspelt who prefix instead of reading it as a user name", () => {
    expectInvalid(
      withRules("  - id: a\n    who: ['gruop:ops']\n    allow: ['*']\n"),
      'policy.yaml:4:11: unknown prefix: use user:NAME, group:NAME, ou:NAME or o:NAME ("user:" for a user name with a colon)',
    );
  });

  test("rejects group members that are not user names", () => {
    expectInvalid(
      "version: 1\ngroups:\n  ops: [alice, 'group:x']\nrules: []\n",
      'policy.yaml:3:16: group members are user names ("user:NAME" for a name such as "anonymous")',
    );
  });

  test("rejects a group name with spaces", () => {
    expectInvalid(
      "version: 1\ngroups:\n  'bad name': [alice]\nrules: []\n",
      "policy.yaml:3:3: group names are letters, digits, '.', '_' and '-'",
    );
  });
});

describe("seed form (methods + uri)", () => {
  test("rejects a regular expression that does not compile", () => {
    const error = loadError(
      withRules('  - id: a\n    who: bob\n    methods: [GET]\n    uri: "^/v1\\\\.[0-9+/x"\n'),
    );
    expect(error.code).toBe("ERR_POLICY_INVALID");
    expect(error.message.startsWith('policy.yaml:6:10: "uri" is not a valid regular expression (')).toBe(
      true,
    );
  });

  test("rejects an overlong regular expression", () => {
    expectInvalid(
      withRules(`  - id: a\n    who: bob\n    methods: [GET]\n    uri: '${"a".repeat(5000)}'\n`),
      'policy.yaml:6:10: "uri" is longer than 4096 characters',
    );
  });

  test("rejects methods without uri and uri without methods", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    methods: [GET]\n"),
      'policy.yaml:3:5: rule a has "methods" but no "uri"',
    );
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    uri: '^/'\n"),
      'policy.yaml:3:5: rule a has "uri" but no "methods" (use ["*"] for any method)',
    );
  });

  test("rejects an unknown HTTP method", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    methods: [GETT]\n    uri: '^/'\n"),
      "policy.yaml:5:15: unknown HTTP method (expected one of: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, *)",
    );
  });

  test("rejects an effect other than allow or deny", () => {
    expectInvalid(
      withRules("  - id: a\n    who: bob\n    methods: [GET]\n    uri: '^/'\n    effect: maybe\n"),
      'policy.yaml:7:13: "effect" must be allow or deny',
    );
  });
});

describe("conditions", () => {
  const deny = (when: string, actions = "[container:create]") =>
    withRules(`  - id: a\n    who: bob\n    deny: ${actions}\n    when: ${when}\n`);

  test("rejects a condition of the wrong type", () => {
    expectInvalid(deny('{privileged: "yes"}'), 'policy.yaml:6:24: "privileged" must be true or false');
    expectInvalid(deny("{cap_add: 5}"), 'policy.yaml:6:21: "cap_add" must be true, false or a list of names');
    expectInvalid(deny("{image: [alpine, 3]}"), 'policy.yaml:6:28: "image" entries must be strings');
  });

  test("rejects an empty when", () => {
    expectInvalid(deny("{}"), 'policy.yaml:6:11: "when" needs at least one condition');
  });

  test("rejects relative bind_sources patterns", () => {
    expectInvalid(
      deny("{bind_sources: [etc/**]}"),
      "policy.yaml:6:27: bind_sources patterns must be absolute paths",
    );
  });

  test("rejects ALL in a cap_add list", () => {
    expectInvalid(
      deny("{cap_add: [ALL]}"),
      "policy.yaml:6:22: cap_add: true matches any added capability; ALL is not a list entry",
    );
  });

  test("rejects conditions that never read the same body", () => {
    expectInvalid(
      deny("{exec_user_root: true, image: [x]}", "[container:create, container:exec]"),
      "policy.yaml:6:11: conditions exec_user_root, image never read the same request body; split them into separate rules",
    );
  });

  test("rejects conditions on actions whose bodies they do not read", () => {
    expectInvalid(
      deny("{privileged: true}", "[image:pull]"),
      'policy.yaml:6:11: "when" reads the bodies of container:create, container:exec, and this rule names none ' +
        "of them, so it could never match",
    );
  });
});
