/**
 * moby's route templates, compiled once into small string matchers (no RegExp on the hot path).
 *
 * gorilla/mux turns `{id}` into `[^/]+` and `{name:.*}` into a greedy `.*` that spans slashes, which is what
 * lets image and plugin references ("localhost:5000/team/app:1.0") sit inside a path. A greedy capture
 * followed by a fixed suffix is simply "everything between the prefix and the suffix", so a `.*` parameter is
 * matched with startsWith/endsWith and one slice.
 */
import { AgentError } from "../errors.ts";

type Part =
  | { readonly kind: "literal"; readonly text: string }
  /** `{id}`: one non-empty segment. */
  | { readonly kind: "segment"; readonly name: string }
  /** `{name:.*}` or `{id:.+}`: one or more non-empty segments. */
  | { readonly kind: "rest"; readonly name: string };

/** Returns the parameter values in template order, or undefined when the path does not fit. */
export type PathMatcher = (path: string) => readonly string[] | undefined;

export interface CompiledPattern {
  readonly template: string;
  /** The literal first path segment ("containers"), or undefined for a pattern that matches any path. */
  readonly firstSegment: string | undefined;
  /** The literal last path segment ("json", "" after a trailing slash), or undefined when a parameter ends it. */
  readonly lastSegment: string | undefined;
  readonly paramNames: readonly string[];
  readonly match: PathMatcher;
}

const NO_VALUES: readonly string[] = Object.freeze([]);

function invalid(template: string, why: string): AgentError {
  return new AgentError("ERR_INTERNAL", "route table is invalid", `${template}: ${why}`);
}

function parseParts(template: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf("{", at);
    if (open === -1) {
      parts.push({ kind: "literal", text: template.slice(at) });
      break;
    }
    if (open > at) parts.push({ kind: "literal", text: template.slice(at, open) });
    const close = template.indexOf("}", open);
    if (close === -1) throw invalid(template, "unclosed parameter");
    const [name = "", expression] = template.slice(open + 1, close).split(":", 2);
    if (name === "") throw invalid(template, "unnamed parameter");
    if (expression === undefined) parts.push({ kind: "segment", name });
    else if (expression === ".*" || expression === ".+") parts.push({ kind: "rest", name });
    else throw invalid(template, `unsupported parameter expression ${expression}`);
    at = close + 1;
  }
  return parts;
}

/** Checks the shapes the matchers rely on: parameters sit between slashes, a `.*` is the last parameter. */
function checkShape(template: string, parts: readonly Part[]): void {
  if (!template.startsWith("/")) throw invalid(template, "does not start with '/'");
  parts.forEach((part, i) => {
    if (part.kind === "literal") return;
    const before = parts[i - 1];
    const after = parts[i + 1];
    if (before?.kind !== "literal" || !before.text.endsWith("/")) {
      throw invalid(template, "parameter does not start a segment");
    }
    if (after !== undefined && (after.kind !== "literal" || !after.text.startsWith("/"))) {
      throw invalid(template, "parameter does not end a segment");
    }
    if (part.kind === "rest" && after !== undefined && i + 2 !== parts.length) {
      throw invalid(template, "a '.*' parameter must be the last parameter");
    }
  });
}

/** prefix + one parameter + suffix: the shape of nearly every route. */
function prefixParamSuffix(prefix: string, kind: "segment" | "rest", suffix: string): PathMatcher {
  const fixed = prefix.length + suffix.length;
  return (path) => {
    if (path.length <= fixed || !path.startsWith(prefix) || !path.endsWith(suffix)) return undefined;
    const value = path.slice(prefix.length, path.length - suffix.length);
    if (value.startsWith("/") || value.endsWith("/")) return undefined;
    if (kind === "segment" && value.includes("/")) return undefined;
    return [value];
  };
}

/** Any other shape (several parameters), walked part by part. */
function general(parts: readonly Part[]): PathMatcher {
  return (path) => {
    const values: string[] = [];
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as Part;
      if (part.kind === "literal") {
        if (!path.startsWith(part.text, at)) return undefined;
        at += part.text.length;
        continue;
      }
      const next = parts[i + 1];
      const suffix = next?.kind === "literal" ? next.text : "";
      let end: number;
      if (part.kind === "segment") {
        const slash = path.indexOf("/", at);
        end = slash === -1 ? path.length : slash;
      } else {
        end = path.length - suffix.length;
        if (end < at || !path.endsWith(suffix)) return undefined;
      }
      const value = path.slice(at, end);
      if (value === "" || value.startsWith("/") || value.endsWith("/")) return undefined;
      values.push(value);
      at = end;
    }
    return at === path.length ? values : undefined;
  };
}

/** Compiles one moby template; a template this module cannot honour exactly is a programming error. */
export function compilePattern(template: string): CompiledPattern {
  // OPTIONS "/{anyroute:.*}" (CORS preflight) matches every path, the root included.
  if (/^\/\{[A-Za-z]+:\.\*\}$/.test(template)) {
    const name = template.slice(2, template.indexOf(":"));
    return {
      template,
      firstSegment: undefined,
      lastSegment: undefined,
      paramNames: [name],
      match: (path) => [path.slice(1)],
    };
  }
  const parts = parseParts(template);
  checkShape(template, parts);
  const paramNames = parts.flatMap((part) => (part.kind === "literal" ? [] : [part.name]));
  const head = parts[0];
  if (head?.kind !== "literal") throw invalid(template, "does not start with a literal");
  const slash = head.text.indexOf("/", 1);
  if (slash === -1 && parts.length > 1) throw invalid(template, "parameter inside the first segment");
  const firstSegment = head.text.slice(1, slash === -1 ? undefined : slash);
  const end = parts[parts.length - 1] as Part;
  const lastSegment = end.kind === "literal" ? end.text.slice(end.text.lastIndexOf("/") + 1) : undefined;

  let match: PathMatcher;
  const [, param, tail] = parts;
  if (param === undefined) {
    match = (path) => (path === head.text ? NO_VALUES : undefined);
  } else if (param.kind !== "literal" && (tail === undefined || parts.length === 3)) {
    match = prefixParamSuffix(head.text, param.kind, tail?.kind === "literal" ? tail.text : "");
  } else {
    match = general(parts);
  }
  return { template, firstSegment, lastSegment, paramNames, match };
}
