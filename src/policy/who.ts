/**
 * Who-patterns name requesters: a user (the TLS certificate's CN), a group of users, "*" (any user with a
 * name), "anonymous" (no user: the unix socket), or the certificate's subject OU / O.
 */
import { MAX_NAME_LENGTH } from "./limits.ts";

export type Who =
  | { readonly kind: "user"; readonly name: string }
  | { readonly kind: "group"; readonly name: string }
  | { readonly kind: "any" }
  | { readonly kind: "anonymous" }
  | { readonly kind: "ou"; readonly name: string }
  | { readonly kind: "o"; readonly name: string };

/** Group names: the same characters as rule ids, so "group:NAME" is unambiguous. */
export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Why `name` cannot be a user name, or undefined when it can. */
export function userNameProblem(name: string): string | undefined {
  if (name === "") return "user name must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `user name is longer than ${MAX_NAME_LENGTH} characters`;
  if (hasControlCharacter(name)) return "user name must not contain control characters";
  if (name.trim() !== name) return "user name must not start or end with spaces";
  return undefined;
}

function named(kind: "ou" | "o" | "group" | "user", name: string): Who | string {
  if (name === "") return `"${kind}:" needs a name after the colon`;
  if (kind === "user") {
    const problem = userNameProblem(name);
    return problem ?? { kind, name };
  }
  if (name.length > MAX_NAME_LENGTH) return `${kind} name is longer than ${MAX_NAME_LENGTH} characters`;
  if (kind === "group" && !GROUP_NAME.test(name)) return "group names are letters, digits, '.', '_' and '-'";
  return { kind, name };
}

/** Parses one who-pattern; returns the problem as a message when it is not one. */
export function parseWho(text: string): Who | string {
  if (text === "*") return { kind: "any" };
  if (text === "anonymous") return { kind: "anonymous" };
  const colon = text.indexOf(":");
  if (colon < 0) return named("user", text);
  const prefix = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  switch (prefix) {
    case "user":
    case "group":
    case "ou":
    case "o":
      return named(prefix, rest);
    default:
      return 'unknown prefix: use user:NAME, group:NAME, ou:NAME or o:NAME ("user:" for a user name with a colon)';
  }
}
