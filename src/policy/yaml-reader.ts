/**
 * Typed reads from the YAML node tree, each failure naming file:line:column. Every policy error goes through
 * `PolicySource.fail`, so messages have one shape: "<file>:<line>:<col>: <what is wrong>".
 */
import { isAlias, isMap, isScalar, isSeq, type LineCounter } from "yaml";
import { AgentError } from "../errors.ts";

export interface Located<T> {
  readonly value: T;
  /** Offset in the policy text, for error positions. */
  readonly at: number;
}

export class PolicySource {
  constructor(readonly fileName: string, private readonly lines: LineCounter) {}

  position(at: number): string {
    // Before parsing (the size check) the counter knows no lines yet: report the file's start.
    const { line, col } = this.lines.lineStarts.length === 0 ? { line: 1, col: 1 } : this.lines.linePos(at);
    return `${this.fileName}:${line}:${col}`;
  }

  fail(at: number, message: string, detail?: string): never {
    throw new AgentError("ERR_POLICY_INVALID", `${this.position(at)}: ${message}`, detail);
  }
}

/** One `key: value` of a mapping: where the key is, and the value node (null when the value is empty). */
export interface Entry {
  readonly key: string;
  readonly keyAt: number;
  readonly node: unknown;
  /** Where the value starts (the key's position when the value is missing). */
  readonly at: number;
}

const SHOWN_KEY_LENGTH = 64;

function startOf(node: unknown, fallback: number): number {
  if (typeof node !== "object" || node === null || !("range" in node)) return fallback;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0] ?? fallback;
}

export class YamlReader {
  constructor(readonly source: PolicySource) {}

  private check(node: unknown, at: number): void {
    if (isAlias(node)) {
      this.source.fail(at, "aliases (*name) are not supported; use groups to share lists of users");
    }
  }

  /** A mapping whose keys must all be in `allowed` (when given): an unknown key is an error, never ignored. */
  mapping(node: unknown, at: number, what: string, allowed?: readonly string[]): Map<string, Entry> {
    this.check(node, at);
    if (!isMap(node)) this.source.fail(at, `${what} must be a mapping`);
    const entries = new Map<string, Entry>();
    for (const pair of node.items) {
      const keyAt = startOf(pair.key, at);
      this.check(pair.key, keyAt);
      if (!isScalar(pair.key) || typeof pair.key.value !== "string") {
        this.source.fail(keyAt, `keys in ${what} must be plain strings`);
      }
      const key = pair.key.value;
      if (allowed !== undefined && !allowed.includes(key)) {
        const shown = key.length > SHOWN_KEY_LENGTH ? `${key.slice(0, SHOWN_KEY_LENGTH)}...` : key;
        this.source.fail(keyAt, `unknown key "${shown}" in ${what} (expected one of: ${allowed.join(", ")})`);
      }
      const valueAt = startOf(pair.value, keyAt);
      this.check(pair.value, valueAt);
      entries.set(key, { key, keyAt, node: pair.value, at: valueAt });
    }
    return entries;
  }

  /** Items of a sequence with their positions. */
  sequence(node: unknown, at: number, what: string): Located<unknown>[] {
    this.check(node, at);
    if (!isSeq(node)) this.source.fail(at, `${what} must be a list`);
    return node.items.map((item) => {
      const itemAt = startOf(item, at);
      this.check(item, itemAt);
      return { value: item, at: itemAt };
    });
  }

  isSequence(node: unknown): boolean {
    return isSeq(node);
  }

  /** The scalar's value, or undefined when the node is not a scalar. */
  scalar(node: unknown): unknown {
    return isScalar(node) ? node.value : undefined;
  }

  string(entry: Entry, what = `"${entry.key}"`): string {
    const value = this.scalar(entry.node);
    if (typeof value !== "string") this.source.fail(entry.at, `${what} must be a string`);
    return value;
  }

  boolean(entry: Entry, what = `"${entry.key}"`): boolean {
    const value = this.scalar(entry.node);
    if (typeof value !== "boolean") this.source.fail(entry.at, `${what} must be true or false`);
    return value;
  }

  /**
   * A list of non-empty strings; with `scalarOk` a single string stands for a one-item list.
   * An empty list is an error: it would make the rule match nothing (or everything) silently.
   */
  strings(entry: Entry, options: { readonly scalarOk: boolean }, what = `"${entry.key}"`): Located<string>[] {
    const single = this.scalar(entry.node);
    if (options.scalarOk && typeof single === "string") {
      if (single === "") this.source.fail(entry.at, `${what} must not be empty`);
      return [{ value: single, at: entry.at }];
    }
    if (!isSeq(entry.node)) {
      this.source.fail(
        entry.at,
        `${what} must be a list of strings${options.scalarOk ? " (or one string)" : ""}`,
      );
    }
    const items = this.sequence(entry.node, entry.at, what);
    if (items.length === 0) this.source.fail(entry.at, `${what} must not be empty`);
    return items.map((item) => {
      const value = this.scalar(item.value);
      if (typeof value !== "string") this.source.fail(item.at, `${what} entries must be strings`);
      if (value === "") this.source.fail(item.at, `${what} entries must not be empty`);
      return { value, at: item.at };
    });
  }
}
