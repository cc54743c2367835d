/**
 * `when` conditions: what a rule requires of the request body. Each condition reads the bodies of a few
 * actions only; a rule with `when` matches only requests of actions that all its conditions read.
 *
 * Failing closed: a deny rule's condition holds when the body MIGHT satisfy it (any candidate value under
 * Go's case-insensitive keys; no body or a body dockerd would reject counts as satisfying; patterns compare
 * case-insensitively). An allow rule's condition holds only when the body CERTAINLY satisfies it (every
 * candidate, exact comparison, readable body).
 *
 * List conditions read as English in both effects: a deny rule matches when the request uses ANY listed
 * value ("deny when cap_add: [SYS_ADMIN]"); an allow rule matches only when the request uses NOTHING
 * outside the list ("allow when bind_sources: [/home/bob/**]").
 */
import type { BodyFacts, Fact } from "./body-facts.ts";
import { compileAncestorTest, compileGlobs, type StringMatcher } from "./glob.ts";

export type Effect = "allow" | "deny";

export interface CompiledCondition {
  readonly key: string;
  /** Short text for denial reasons, e.g. "privileged containers". */
  readonly label: string;
  holds(facts: BodyFacts): boolean;
}

/** The value shapes a condition takes in the policy file. */
export type ConditionValueKind = "boolean" | "patterns" | "boolean-or-names";

export interface ConditionSpec {
  readonly key: string;
  /** The actions whose request bodies this condition reads. */
  readonly appliesTo: readonly string[];
  readonly value: ConditionValueKind;
  /** Why one list item is not acceptable, or undefined when it is. */
  readonly checkItem?: (item: string) => string | undefined;
  /** Turns a list item into its compiled form (e.g. capability names lose "CAP_"). */
  readonly normalizeItem?: (item: string) => string;
  compile(value: boolean | readonly string[], effect: Effect): CompiledCondition;
}

const CREATE = "container:create";
const EXEC = "container:exec";
const UPDATE = "container:update";
const VOLUME_CREATE = "volume:create";

/** Some value satisfies `test` (deny) / every value does (allow); an unreadable body decides by effect. */
function someOrEvery<T>(fact: Fact<T>, test: (value: T) => boolean, effect: Effect): boolean {
  if (effect === "deny") {
    if (fact.unknown) return true;
    for (const value of fact.values) if (test(value)) return true;
    return false;
  }
  if (fact.unknown) return false;
  for (const value of fact.values) if (!test(value)) return false;
  return true;
}

/** "The request has at least one such item" equals `expected`; competing keys leave either possible. */
function existence(fact: Fact<unknown>, exists: boolean, expected: boolean, effect: Effect): boolean {
  if (effect === "deny") return fact.unknown || (expected ? exists : !exists || fact.ambiguous);
  return !fact.unknown && (expected ? exists && !fact.ambiguous : !exists);
}

function asBoolean(value: boolean | readonly string[]): boolean {
  return value === true;
}

function asList(value: boolean | readonly string[]): readonly string[] {
  return typeof value === "boolean" ? [] : value;
}

/** A true/false condition on whether the request has some item (a host mount, a device, ...). */
function booleanCondition(
  key: string,
  appliesTo: readonly string[],
  labels: readonly [whenTrue: string, whenFalse: string],
  read: (facts: BodyFacts) => Fact<unknown>,
  exists: (facts: BodyFacts, fact: Fact<unknown>) => boolean = (_, fact) => fact.values.length > 0,
): ConditionSpec {
  return {
    key,
    appliesTo,
    value: "boolean",
    compile(value, effect) {
      const expected = asBoolean(value);
      return {
        key,
        label: expected ? labels[0] : labels[1],
        holds(facts) {
          const fact = read(facts);
          return existence(fact, exists(facts, fact), expected, effect);
        },
      };
    },
  };
}

/** uid 0: "root", "0", "+0", with or without ":group"; undefined when the user is left to the image. */
export function isRootUser(user: string): boolean | undefined {
  const colon = user.indexOf(":");
  const name = colon < 0 ? user : user.slice(0, colon);
  if (name === "") return undefined;
  if (name.toLowerCase() === "root") return true;
  if (/^[+-]?[0-9]+$/.test(name)) return Number(name) === 0;
  return false;
}

const privileged: ConditionSpec = {
  key: "privileged",
  appliesTo: [CREATE, EXEC],
  value: "boolean",
  compile(value, effect) {
    const expected = asBoolean(value);
    return {
      key: "privileged",
      label: expected ? "privileged containers" : "unprivileged containers",
      holds: (facts) => someOrEvery(facts.privileged(), (v) => v === expected, effect),
    };
  },
};

const hostMounts = booleanCondition(
  "host_mounts",
  [CREATE, VOLUME_CREATE],
  ["host mounts", "no host mounts"],
  (facts) => facts.hostMountSources(),
);

const bindSources: ConditionSpec = {
  key: "bind_sources",
  appliesTo: [CREATE, VOLUME_CREATE],
  value: "patterns",
  checkItem: (item) => (item.startsWith("/") ? undefined : "bind_sources patterns must be absolute paths"),
  compile(value, effect) {
    const patterns = asList(value);
    const ignoreCase = effect === "deny";
    const matches = compileGlobs(patterns, "path", ignoreCase);
    let test: StringMatcher = matches;
    if (effect === "deny") {
      const ancestors = patterns.map((p) => compileAncestorTest(p, true));
      test = (source) => matches(source) || (source.startsWith("/") && ancestors.some((a) => a(source)));
    }
    return {
      key: "bind_sources",
      label: "host mounts of listed paths",
      holds: (facts) => someOrEvery(facts.hostMountSources(), test, effect),
    };
  },
};

function modeCondition(key: string, field: string, name: string): ConditionSpec {
  return {
    key,
    appliesTo: [CREATE],
    value: "patterns",
    compile(value, effect) {
      const patterns = asList(value);
      const test = compileGlobs(patterns, "plain", effect === "deny");
      return {
        key,
        label: `${name} ${patterns.join(", ")}`,
        holds: (facts) => someOrEvery(facts.mode(field), test, effect),
      };
    },
  };
}

const CAPABILITY = /^[A-Z0-9_]+$/;

function normalizeCapability(item: string): string {
  const upper = item.toUpperCase();
  return upper.startsWith("CAP_") ? upper.slice(4) : upper;
}

const capAdd: ConditionSpec = {
  key: "cap_add",
  appliesTo: [CREATE],
  value: "boolean-or-names",
  normalizeItem: normalizeCapability,
  checkItem(item) {
    const cap = normalizeCapability(item);
    if (cap === "ALL") return "cap_add: true matches any added capability; ALL is not a list entry";
    return CAPABILITY.test(cap) ? undefined : "capability names are letters, digits and '_' (e.g. SYS_ADMIN)";
  },
  compile(value, effect) {
    if (typeof value === "boolean") {
      return {
        key: "cap_add",
        label: value ? "added capabilities" : "no added capabilities",
        holds(facts) {
          const fact = facts.addedCapabilities();
          return existence(fact, fact.values.length > 0, value, effect);
        },
      };
    }
    const listed = new Set(value);
    // A request adding ALL adds every listed capability; an allow list can never cover ALL.
    const test = effect === "deny"
      ? (cap: string) => cap === "ALL" || listed.has(cap)
      : (cap: string) => listed.has(cap);
    return {
      key: "cap_add",
      label: `added capabilities ${value.join(", ")}`,
      holds: (facts) => someOrEvery(facts.addedCapabilities(), test, effect),
    };
  },
};

const devices = booleanCondition(
  "devices",
  [CREATE, UPDATE],
  ["host devices", "no host devices"],
  (facts) => facts.devices(),
);

const unconfined = booleanCondition(
  "unconfined",
  [CREATE],
  ["disabled confinement (seccomp, AppArmor, SELinux)", "confined containers"],
  (facts) => facts.securityOptions(),
  (facts) => facts.disablesConfinement(),
);

const securityOpt: ConditionSpec = {
  key: "security_opt",
  appliesTo: [CREATE],
  value: "patterns",
  compile(value, effect) {
    const test = compileGlobs(asList(value), "plain", effect === "deny");
    return {
      key: "security_opt",
      label: "security options",
      holds: (facts) => someOrEvery(facts.securityOptions(), test, effect),
    };
  },
};

function imageCondition(key: "image" | "image_not"): ConditionSpec {
  return {
    key,
    appliesTo: [CREATE],
    value: "patterns",
    checkItem: (item) => (item.startsWith("/") ? "image patterns are image names, not paths" : undefined),
    compile(value, effect) {
      const patterns = asList(value);
      const matches = compileGlobs(patterns, "reference", effect === "deny");
      const listed = (forms: readonly string[]) => forms.some(matches);
      const test = key === "image" ? listed : (forms: readonly string[]) => !listed(forms);
      return {
        key,
        label: key === "image" ? `images ${patterns.join(", ")}` : `images other than ${patterns.join(", ")}`,
        holds: (facts) => someOrEvery(facts.imageSpellings(), test, effect),
      };
    },
  };
}

const execUserRoot: ConditionSpec = {
  key: "exec_user_root",
  appliesTo: [EXEC],
  value: "boolean",
  compile(value, effect) {
    const expected = asBoolean(value);
    // An exec without a user runs as the container's user, which the policy cannot see: unknown.
    const test = effect === "deny"
      ? (user: string) => {
        const root = isRootUser(user);
        return root === undefined || root === expected;
      }
      : (user: string) => isRootUser(user) === expected;
    return {
      key: "exec_user_root",
      label: expected ? "exec as root" : "exec as a non-root user",
      holds: (facts) => someOrEvery(facts.execUser(), test, effect),
    };
  },
};

/** Every condition, in the order the README lists them. */
export const CONDITIONS: readonly ConditionSpec[] = [
  privileged,
  hostMounts,
  bindSources,
  modeCondition("network_mode", "NETWORKMODE", "network mode"),
  modeCondition("pid_mode", "PIDMODE", "pid mode"),
  modeCondition("ipc_mode", "IPCMODE", "ipc mode"),
  modeCondition("uts_mode", "UTSMODE", "uts mode"),
  modeCondition("userns_mode", "USERNSMODE", "userns mode"),
  modeCondition("cgroupns_mode", "CGROUPNSMODE", "cgroupns mode"),
  capAdd,
  devices,
  unconfined,
  securityOpt,
  imageCondition("image"),
  imageCondition("image_not"),
  execUserRoot,
];

export const CONDITION_KEYS: readonly string[] = CONDITIONS.map((c) => c.key);

export function conditionSpec(key: string): ConditionSpec | undefined {
  return CONDITIONS.find((c) => c.key === key);
}
