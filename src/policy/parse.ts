/**
 * Policy text -> a checked document: YAML syntax, the file's shape, the types of every value. Unknown keys
 * are errors everywhere (a typo must never silently weaken a policy). Meaning (groups, regexes, action
 * names, condition applicability) is checked by compile.ts.
 */
import { LineCounter, parseDocument } from "yaml";
import { CONDITION_KEYS, conditionSpec, type Effect } from "./conditions.ts";
import { MAX_POLICY_BYTES, MAX_RULE_ID_LENGTH, MAX_RULES } from "./limits.ts";
import { type Entry, type Located, PolicySource, YamlReader } from "./yaml-reader.ts";

export interface ConditionSource {
  readonly key: string;
  readonly at: number;
  readonly value: boolean | readonly string[];
}

export interface WhenSource {
  readonly at: number;
  readonly conditions: readonly ConditionSource[];
}

export interface RuleSource {
  /** Position in the file's rule list (0-based): earlier rules are reported first. */
  readonly index: number;
  readonly at: number;
  readonly id: Located<string>;
  readonly description: string | undefined;
  readonly who: readonly Located<string>[];
  readonly effect: Effect;
  /** Action patterns of the allow/deny form; undefined for the seed form. */
  readonly actions: readonly Located<string>[] | undefined;
  /** Seed form: methods (upper-case) and the URI regular expression; undefined for the allow/deny form. */
  readonly methods: readonly Located<string>[] | undefined;
  readonly uri: Located<string> | undefined;
  readonly when: WhenSource | undefined;
}

export interface GroupSource {
  readonly name: Located<string>;
  readonly members: readonly Located<string>[];
}

export interface PolicyDocument {
  readonly source: PolicySource;
  readonly administrators: readonly Located<string>[];
  readonly groups: readonly GroupSource[];
  readonly rules: readonly RuleSource[];
}

const TOP_KEYS = ["version", "administrators", "groups", "rules"] as const;
const RULE_KEYS = ["id", "description", "who", "allow", "deny", "methods", "uri", "effect", "when"] as const;
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "*"];
const FIRST_LINE = /^[^\n]*/;

/** Plainer words than the YAML library's for the mistakes operators make most. */
const YAML_MESSAGES: Readonly<Record<string, string>> = {
  DUPLICATE_KEY: "duplicate key (the second value would silently replace the first)",
  MULTIPLE_DOCS: "a policy file holds one YAML document (remove the extra ---)",
  TAG_RESOLVE_FAILED: "unknown YAML tag (tags such as !name are not supported)",
  TAB_AS_INDENT: "tabs are not allowed as indentation",
};

function parseYaml(text: string, source: PolicySource, lines: LineCounter): unknown {
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    version: "1.2",
    schema: "core",
    merge: false,
  });
  // Warnings (e.g. an unresolved tag) are errors here: a value that may not mean what it says is refused.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const message = YAML_MESSAGES[problem.code] ?? FIRST_LINE.exec(problem.message)?.[0] ?? "syntax error";
    source.fail(problem.pos[0], `invalid YAML: ${message}`, problem.code);
  }
  if (doc.contents === null) source.fail(0, "policy file is empty (it needs at least version and rules)");
  return doc.contents;
}

function readVersion(entries: Map<string, Entry>, reader: YamlReader, rootAt: number): void {
  const entry = entries.get("version");
  if (entry === undefined) reader.source.fail(rootAt, 'missing "version" (this agent reads version: 1)');
  if (reader.scalar(entry.node) !== 1) reader.source.fail(entry.at, '"version" must be 1');
}

function readWhen(entry: Entry, reader: YamlReader): WhenSource {
  const entries = reader.mapping(entry.node, entry.at, '"when"', CONDITION_KEYS);
  if (entries.size === 0) reader.source.fail(entry.at, '"when" needs at least one condition');
  const conditions = [...entries.values()].map((condition) => ({
    key: condition.key,
    at: condition.keyAt,
    value: readConditionValue(condition, reader),
  }));
  return { at: entry.at, conditions };
}

function readConditionValue(entry: Entry, reader: YamlReader): boolean | readonly string[] {
  const spec = conditionSpec(entry.key);
  if (spec === undefined) reader.source.fail(entry.keyAt, `unknown condition "${entry.key}"`);
  const what = `"${entry.key}"`;
  if (spec.value === "boolean") return reader.boolean(entry);
  if (spec.value === "boolean-or-names" && typeof reader.scalar(entry.node) === "boolean") {
    return reader.boolean(entry);
  }
  const single = reader.scalar(entry.node);
  if (spec.value === "boolean-or-names" && !reader.isSequence(entry.node) && typeof single !== "string") {
    reader.source.fail(entry.at, `${what} must be true, false or a list of names`);
  }
  const items = reader.strings(entry, { scalarOk: true }, what);
  return items.map((item) => {
    const problem = spec.checkItem?.(item.value);
    if (problem !== undefined) reader.source.fail(item.at, problem);
    return spec.normalizeItem ? spec.normalizeItem(item.value) : item.value;
  });
}

function readRule(node: unknown, at: number, index: number, reader: YamlReader): RuleSource {
  const fail: (where: number, message: string) => never = (where, message) =>
    reader.source.fail(where, message);
  const entries = reader.mapping(node, at, "a rule", RULE_KEYS);
  const idEntry = entries.get("id");
  if (idEntry === undefined) fail(at, 'rule is missing "id"');
  const id = reader.string(idEntry);
  if (!RULE_ID.test(id) || id.length > MAX_RULE_ID_LENGTH) {
    fail(idEntry.at, `rule id must be letters, digits, '.', '_' or '-' (at most ${MAX_RULE_ID_LENGTH})`);
  }
  const whoEntry = entries.get("who");
  if (whoEntry === undefined) fail(at, `rule ${id} is missing "who"`);
  const who = reader.strings(whoEntry, { scalarOk: true });
  const descriptionEntry = entries.get("description");
  const description = descriptionEntry === undefined ? undefined : reader.string(descriptionEntry);

  const allow = entries.get("allow");
  const deny = entries.get("deny");
  const methodsEntry = entries.get("methods");
  const uriEntry = entries.get("uri");
  const effectEntry = entries.get("effect");
  if (allow !== undefined && deny !== undefined) {
    fail(deny.keyAt, `rule ${id} has both "allow" and "deny"; write two rules`);
  }
  const actionsEntry = allow ?? deny;
  const seedEntry = methodsEntry ?? uriEntry;
  if (actionsEntry !== undefined && seedEntry !== undefined) {
    fail(seedEntry.keyAt, `rule ${id} mixes "${actionsEntry.key}" with "${seedEntry.key}"; use one form`);
  }
  if (actionsEntry !== undefined && effectEntry !== undefined) {
    fail(
      effectEntry.keyAt,
      `"effect" belongs to the methods + uri form; rule ${id} already says "${actionsEntry.key}"`,
    );
  }
  if (actionsEntry === undefined && seedEntry === undefined) {
    fail(at, `rule ${id} needs "allow", "deny", or "methods" and "uri"`);
  }

  let effect: Effect;
  let actions: Located<string>[] | undefined;
  let methods: Located<string>[] | undefined;
  let uri: Located<string> | undefined;
  if (actionsEntry !== undefined) {
    effect = actionsEntry.key === "allow" ? "allow" : "deny";
    actions = reader.strings(actionsEntry, { scalarOk: true });
  } else {
    if (methodsEntry === undefined) {
      fail(at, `rule ${id} has "uri" but no "methods" (use [\"*\"] for any method)`);
    }
    if (uriEntry === undefined) fail(at, `rule ${id} has "methods" but no "uri"`);
    methods = reader.strings(methodsEntry, { scalarOk: true }).map((m) => {
      const upper = m.value.toUpperCase();
      if (!METHODS.includes(upper)) {
        fail(m.at, `unknown HTTP method (expected one of: ${METHODS.join(", ")})`);
      }
      return { value: upper, at: m.at };
    });
    uri = { value: reader.string(uriEntry), at: uriEntry.at };
    effect = "allow";
    if (effectEntry !== undefined) {
      const value = reader.scalar(effectEntry.node);
      if (value !== "allow" && value !== "deny") fail(effectEntry.at, '"effect" must be allow or deny');
      effect = value;
    }
  }
  const whenEntry = entries.get("when");
  const when = whenEntry === undefined ? undefined : readWhen(whenEntry, reader);
  return {
    index,
    at,
    id: { value: id, at: idEntry.at },
    description,
    who,
    effect,
    actions,
    methods,
    uri,
    when,
  };
}

/** Reads and checks the policy's shape; throws AgentError("ERR_POLICY_INVALID", "file:line:col: ..."). */
export function parsePolicy(text: string, fileName: string): PolicyDocument {
  const lines = new LineCounter();
  const source: PolicySource = new PolicySource(fileName, lines);
  if (new TextEncoder().encode(text).length > MAX_POLICY_BYTES) {
    source.fail(0, `policy file is larger than ${MAX_POLICY_BYTES} bytes`);
  }
  const root = parseYaml(text, source, lines);
  const reader = new YamlReader(source);
  const rootAt = 0;
  const top = reader.mapping(root, rootAt, "the policy file", TOP_KEYS);
  readVersion(top, reader, rootAt);

  const adminEntry = top.get("administrators");
  const administrators = adminEntry === undefined ? [] : reader.strings(adminEntry, { scalarOk: true });
  const groups = readGroups(top.get("groups"), reader);

  const rulesEntry = top.get("rules");
  if (rulesEntry === undefined) {
    source.fail(rootAt, 'missing "rules" (a list; an empty list denies everything)');
  }
  const items = reader.sequence(rulesEntry.node, rulesEntry.at, '"rules"');
  if (items.length > MAX_RULES) source.fail(rulesEntry.at, `too many rules (at most ${MAX_RULES})`);
  const rules = items.map((item, index) => readRule(item.value, item.at, index, reader));
  return { source, administrators, groups, rules };
}

/** `groups: {NAME: [user, ...]}`; names and members are checked by compile.ts. */
function readGroups(entry: Entry | undefined, reader: YamlReader): GroupSource[] {
  if (entry === undefined) return [];
  const groups = reader.mapping(entry.node, entry.at, '"groups"');
  return [...groups.values()].map((group) => ({
    name: { value: group.key, at: group.keyAt },
    members: reader.strings(group, { scalarOk: true }, `group ${group.key}`),
  }));
}
