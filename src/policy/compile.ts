/**
 * A checked document -> the structures evaluation runs on: rules indexed by who they name (so a request
 * only looks at rules that can apply to its requester), globs and regexes compiled, decisions prebuilt.
 * Checks meaning with file:line:col errors: unknown groups, bad who-patterns, action patterns that match no
 * known action, regexes that do not compile, conditions that can never apply.
 */
import { actionNames } from "../authz/routes.ts";
import { type CompiledCondition, conditionSpec, type Effect } from "./conditions.ts";
import { compileGlob, compileGlobs, type StringMatcher } from "./glob.ts";
import { MAX_REGEX_LENGTH } from "./limits.ts";
import type { ConditionSource, PolicyDocument, RuleSource, WhenSource } from "./parse.ts";
import type { PolicyDecision } from "./types.ts";
import { GROUP_NAME, parseWho, type Who } from "./who.ts";
import type { Located, PolicySource } from "./yaml-reader.ts";

export interface CompiledRule {
  readonly index: number;
  readonly id: string;
  readonly effect: Effect;
  /** Allow/deny form: which actions the rule names. */
  readonly actionTest: StringMatcher | undefined;
  /** Seed form: accepted methods (undefined: any) and the URI expression. */
  readonly methods: ReadonlySet<string> | undefined;
  /** Seed form: `methods` names POST, PUT, DELETE or PATCH (a deny rule then also catches GETs that write). */
  readonly listsWriteMethod: boolean;
  readonly uri: RegExp | undefined;
  /** With `when`: the actions whose bodies every condition reads, and the conditions. */
  readonly whenActions: ReadonlySet<string> | undefined;
  readonly conditions: readonly CompiledCondition[];
  /** The decision this rule gives when it decides (built once, returned as is). */
  readonly decision: PolicyDecision;
  /**
   * A deny rule with `when` matches a request that carries no body (it fails closed: the worst is assumed).
   * Its decision then says so, since "privileged containers" for a request without a body reads as a bug.
   */
  readonly decisionWithoutBody: PolicyDecision;
}

/**
 * The rules that can apply to one kind of requester, in file order, with the subset for each action
 * worked out on first use (bounded: only actions of the route table are remembered).
 */
export class RuleList {
  readonly hasAllow: boolean;
  private readonly byAction = new Map<string, readonly CompiledRule[]>();

  constructor(readonly rules: readonly CompiledRule[], private readonly known: ReadonlySet<string>) {
    this.hasAllow = rules.some((r) => r.effect === "allow");
  }

  /** Rules whose actions (and, with `when`, whose conditions) can apply to `action`. */
  forAction(action: string): readonly CompiledRule[] {
    const hit = this.byAction.get(action);
    if (hit !== undefined) return hit;
    const rules = this.rules.filter((rule) =>
      (rule.actionTest === undefined || rule.actionTest(action)) &&
      (rule.whenActions === undefined || rule.whenActions.has(action))
    );
    if (this.known.has(action)) this.byAction.set(action, rules);
    return rules;
  }
}

/** A set of requesters (the administrators list): users with groups expanded, and the special forms. */
export interface RequesterSet {
  readonly users: ReadonlySet<string>;
  readonly anyUser: boolean;
  readonly anonymous: boolean;
  readonly ous: ReadonlySet<string>;
  readonly os: ReadonlySet<string>;
}

export interface CompiledPolicy {
  readonly ruleCount: number;
  readonly byUser: ReadonlyMap<string, RuleList>;
  readonly anyUser: RuleList;
  readonly anonymous: RuleList;
  readonly byOu: ReadonlyMap<string, RuleList>;
  readonly byO: ReadonlyMap<string, RuleList>;
  readonly hasCertificateRules: boolean;
  readonly administrators: RequesterSet;
  /** The groups each user is a member of (`groups:`), for the HTTPS API's namespaces. */
  readonly groupsByUser: ReadonlyMap<string, readonly string[]>;
}

const SHOWN_DESCRIPTION_LENGTH = 200;
/** The methods that only ever reach routes that write. */
const WRITE_METHODS: readonly string[] = ["POST", "PUT", "DELETE", "PATCH"];

function groupsByUser(groups: ReadonlyMap<string, readonly string[]>): Map<string, readonly string[]> {
  const byUser = new Map<string, string[]>();
  for (const [group, members] of groups) {
    for (const member of members) {
      const list = byUser.get(member) ?? [];
      if (!list.includes(group)) list.push(group);
      byUser.set(member, list);
    }
  }
  return byUser as Map<string, readonly string[]>;
}

function compileGroups(doc: PolicyDocument): Map<string, readonly string[]> {
  const groups = new Map<string, readonly string[]>();
  for (const group of doc.groups) {
    if (!GROUP_NAME.test(group.name.value)) {
      doc.source.fail(group.name.at, "group names are letters, digits, '.', '_' and '-'");
    }
    groups.set(
      group.name.value,
      group.members.map((member) => {
        const who = parseWho(member.value);
        if (typeof who === "string") doc.source.fail(member.at, who);
        if (who.kind !== "user") {
          doc.source.fail(
            member.at,
            'group members are user names ("user:NAME" for a name such as "anonymous")',
          );
        }
        return who.name;
      }),
    );
  }
  return groups;
}

type Resolved =
  | { readonly kind: "users"; readonly names: readonly string[] }
  | Exclude<Who, { kind: "user" } | { kind: "group" }>;

function resolveWho(
  entry: Located<string>,
  groups: Map<string, readonly string[]>,
  source: PolicySource,
): Resolved {
  const who = parseWho(entry.value);
  if (typeof who === "string") source.fail(entry.at, who);
  if (who.kind === "user") return { kind: "users", names: [who.name] };
  if (who.kind !== "group") return who;
  const members = groups.get(who.name);
  if (members === undefined) source.fail(entry.at, `unknown group "${who.name}" (define it under "groups")`);
  return { kind: "users", names: members };
}

function compileRequesters(
  entries: readonly Located<string>[],
  groups: Map<string, readonly string[]>,
  source: PolicySource,
): RequesterSet {
  const set = {
    users: new Set<string>(),
    anyUser: false,
    anonymous: false,
    ous: new Set<string>(),
    os: new Set<string>(),
  };
  for (const entry of entries) {
    const who = resolveWho(entry, groups, source);
    if (who.kind === "users") { for (const name of who.names) set.users.add(name); }
    else if (who.kind === "any") set.anyUser = true;
    else if (who.kind === "anonymous") set.anonymous = true;
    else if (who.kind === "ou") set.ous.add(who.name);
    else set.os.add(who.name);
  }
  return set;
}

function compileActions(
  patterns: readonly Located<string>[],
  known: readonly string[],
  source: PolicySource,
): StringMatcher {
  for (const pattern of patterns) {
    const test = compileGlob(pattern.value, "plain", false);
    if (!known.some(test)) {
      source.fail(
        pattern.at,
        `action pattern "${pattern.value}" matches no known action (see: agent policy actions)`,
      );
    }
  }
  return compileGlobs(patterns.map((p) => p.value), "plain", false);
}

function compileUri(uri: Located<string>, source: PolicySource): RegExp {
  if (uri.value.length > MAX_REGEX_LENGTH) {
    source.fail(uri.at, `"uri" is longer than ${MAX_REGEX_LENGTH} characters`);
  }
  try {
    return new RegExp(uri.value);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    // Keep only the engine's reason ("missing )"), not the pattern it may repeat.
    const reason = detail.slice(detail.lastIndexOf(": ") + 2).slice(0, 120);
    return source.fail(uri.at, `"uri" is not a valid regular expression (${reason})`, detail);
  }
}

function compileConditions(
  when: WhenSource,
  rule: RuleSource,
  actionTest: StringMatcher | undefined,
  source: PolicySource,
): { readonly actions: ReadonlySet<string>; readonly conditions: CompiledCondition[] } {
  let actions: readonly string[] | undefined;
  const conditions = when.conditions.map((condition: ConditionSource) => {
    const spec = conditionSpec(condition.key);
    if (spec === undefined) return source.fail(condition.at, `unknown condition "${condition.key}"`);
    actions = actions === undefined ? spec.appliesTo : actions.filter((a) => spec.appliesTo.includes(a));
    return spec.compile(condition.value, rule.effect);
  });
  const keys = when.conditions.map((c) => c.key).join(", ");
  if (actions === undefined || actions.length === 0) {
    source.fail(
      when.at,
      `conditions ${keys} never read the same request body; split them into separate rules`,
    );
  }
  if (actionTest !== undefined && !actions.some(actionTest)) {
    source.fail(
      when.at,
      `"when" reads the bodies of ${
        actions.join(", ")
      }, and this rule names none of them, so it could never match`,
    );
  }
  return { actions: new Set(actions), conditions };
}

function decisionOf(rule: RuleSource, conditions: readonly CompiledCondition[]): PolicyDecision {
  const id = rule.id.value;
  if (rule.effect === "allow") {
    return Object.freeze({ allow: true, ruleId: id, reason: `allowed by rule ${id}` });
  }
  const firstLine = rule.description?.split("\n")[0]?.trim().slice(0, SHOWN_DESCRIPTION_LENGTH);
  const why = firstLine !== undefined && firstLine !== ""
    ? firstLine
    : conditions.map((c) => c.label).join(" and ");
  return Object.freeze({
    allow: false,
    ruleId: id,
    reason: why === "" ? `denied by rule ${id}` : `denied by rule ${id}: ${why}`,
  });
}

function compileRule(rule: RuleSource, known: readonly string[], source: PolicySource): CompiledRule {
  const actionTest = rule.actions === undefined ? undefined : compileActions(rule.actions, known, source);
  let methods: Set<string> | undefined;
  if (rule.methods !== undefined && !rule.methods.some((m) => m.value === "*")) {
    methods = new Set(rule.methods.map((m) => m.value));
    // Go serves HEAD with the GET handler: a GET rule covers HEAD, so HEAD cannot dodge a GET deny.
    if (methods.has("GET")) methods.add("HEAD");
  }
  const listsWriteMethod = methods !== undefined && WRITE_METHODS.some((m) => methods.has(m));
  const uri = rule.uri === undefined ? undefined : compileUri(rule.uri, source);
  const when = rule.when === undefined ? undefined : compileConditions(rule.when, rule, actionTest, source);
  const conditions = when?.conditions ?? [];
  return {
    index: rule.index,
    id: rule.id.value,
    effect: rule.effect,
    actionTest,
    methods,
    listsWriteMethod,
    uri,
    whenActions: when?.actions,
    conditions,
    decision: decisionOf(rule, conditions),
    decisionWithoutBody: withoutBody(decisionOf(rule, conditions), conditions),
  };
}

function withoutBody(decision: PolicyDecision, conditions: readonly CompiledCondition[]): PolicyDecision {
  if (decision.allow || conditions.length === 0) return decision;
  return Object.freeze({
    ...decision,
    reason: `${decision.reason} (the request has no body to check, and a deny rule with \`when\` assumes ` +
      "the worst without one)",
  });
}

class ListBuilder {
  private readonly lists = new Map<string, CompiledRule[]>();

  add(key: string, rule: CompiledRule): void {
    const list = this.lists.get(key);
    if (list === undefined) this.lists.set(key, [rule]);
    else if (list[list.length - 1] !== rule) list.push(rule);
  }

  build(known: ReadonlySet<string>): Map<string, RuleList> {
    const out = new Map<string, RuleList>();
    for (const [key, rules] of this.lists) out.set(key, new RuleList(rules, known));
    return out;
  }
}

export function compilePolicy(doc: PolicyDocument): CompiledPolicy {
  const source = doc.source;
  const known = actionNames();
  const knownSet = new Set(known);
  const groups = compileGroups(doc);
  const seenIds = new Map<string, number>();
  const byUser = new ListBuilder();
  const byOu = new ListBuilder();
  const byO = new ListBuilder();
  const anyUser: CompiledRule[] = [];
  const anonymous: CompiledRule[] = [];
  for (const rule of doc.rules) {
    const first = seenIds.get(rule.id.value);
    if (first !== undefined) {
      source.fail(
        rule.id.at,
        `duplicate rule id "${rule.id.value}" (first used at ${source.position(first)})`,
      );
    }
    seenIds.set(rule.id.value, rule.id.at);
    const compiled = compileRule(rule, known, source);
    for (const entry of rule.who) {
      const who = resolveWho(entry, groups, source);
      if (who.kind === "users") { for (const name of who.names) byUser.add(name, compiled); }
      else if (who.kind === "any") {
        if (anyUser[anyUser.length - 1] !== compiled) anyUser.push(compiled);
      } else if (who.kind === "anonymous") {
        if (anonymous[anonymous.length - 1] !== compiled) anonymous.push(compiled);
      } else if (who.kind === "ou") byOu.add(who.name, compiled);
      else byO.add(who.name, compiled);
    }
  }
  const ous = byOu.build(knownSet);
  const os = byO.build(knownSet);
  return {
    ruleCount: doc.rules.length,
    byUser: byUser.build(knownSet),
    anyUser: new RuleList(anyUser, knownSet),
    anonymous: new RuleList(anonymous, knownSet),
    byOu: ous,
    byO: os,
    hasCertificateRules: ous.size > 0 || os.size > 0,
    administrators: compileRequesters(doc.administrators, groups, source),
    groupsByUser: groupsByUser(groups),
  };
}
