/**
 * Glob patterns, compiled once at load into plain string tests (equality, prefix) or one regular expression.
 * Three flavours, because the things they match are shaped differently:
 * - "plain" (actions, modes, security options): `*` is any run of characters, `?` one character.
 * - "reference" (image names): `*` and `?` stop at "/", `**` is any run of characters.
 * - "path" (host paths): like "reference", and a final `/**` segment also matches the directory itself.
 * Anything else (`[`, `{`, `\`) is literal: policy patterns are not shell globs.
 */

export type GlobFlavor = "plain" | "reference" | "path";
export type StringMatcher = (value: string) => boolean;

const REGEX_SPECIAL = /[.+^${}()|[\]\\/-]/;

export function hasWildcard(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

function globRegexSource(pattern: string, flavor: GlobFlavor): string {
  let out = "^";
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (
      flavor === "path" && c === "/" && pattern.startsWith("/**", i) &&
      (i + 3 === pattern.length || pattern[i + 3] === "/")
    ) {
      out += "(?:/.*)?";
      i += 3;
    } else if (c === "*") {
      const double = pattern[i + 1] === "*";
      out += flavor === "plain" || double ? ".*" : "[^/]*";
      i += double ? 2 : 1;
    } else if (c === "?") {
      out += flavor === "plain" ? "." : "[^/]";
      i += 1;
    } else {
      out += REGEX_SPECIAL.test(c) ? `\\${c}` : c;
      i += 1;
    }
  }
  return `${out}$`;
}

/** `ignoreCase` is for deny rules: they compare the way that denies more (see README.md). */
export function compileGlob(pattern: string, flavor: GlobFlavor, ignoreCase: boolean): StringMatcher {
  if (!hasWildcard(pattern)) {
    if (!ignoreCase) return (value) => value === pattern;
    const lower = pattern.toLowerCase();
    return (value) => value.toLowerCase() === lower;
  }
  if (pattern === "**" || (flavor === "plain" && pattern === "*")) return () => true;
  // The common "container:*" and "registry.local/**" shapes are a prefix test, no regex needed.
  const trailing = flavor === "plain" ? "*" : flavor === "reference" ? "**" : undefined;
  if (trailing !== undefined && pattern.endsWith(trailing)) {
    const prefix = pattern.slice(0, -trailing.length);
    // Case-insensitive prefixes stay regexes: measured faster than lower-casing every value.
    if (!ignoreCase && !hasWildcard(prefix)) return (value) => value.startsWith(prefix);
  }
  const regex = new RegExp(globRegexSource(pattern, flavor), ignoreCase ? "is" : "s");
  return (value) => regex.test(value);
}

/** Any of several patterns. */
export function compileGlobs(
  patterns: readonly string[],
  flavor: GlobFlavor,
  ignoreCase: boolean,
): StringMatcher {
  const matchers = patterns.map((p) => compileGlob(p, flavor, ignoreCase));
  if (matchers.length === 1) return matchers[0] as StringMatcher;
  return (value) => {
    for (const m of matchers) if (m(value)) return true;
    return false;
  };
}

/**
 * For deny rules on host paths: true when `path` (clean, absolute) is a strict ancestor of some path the
 * pattern matches. Binding "/var/run" or "/" exposes /var/run/docker.sock as surely as binding the socket.
 */
export function compileAncestorTest(pattern: string, ignoreCase: boolean): StringMatcher {
  const segments = pattern === "/" ? [] : pattern.slice(1).split("/");
  const tests = segments.map((s) => (s.includes("**") ? undefined : compileGlob(s, "reference", ignoreCase)));
  return (path) => {
    const parts = path === "/" ? [] : path.slice(1).split("/");
    for (let i = 0; i < parts.length; i++) {
      if (i >= segments.length) return false;
      const test = tests[i];
      if (test === undefined) return true; // a `**` segment can stand for anything below
      if (!test(parts[i] as string)) return false;
    }
    return segments.length > parts.length;
  };
}
