/**
 * Exact option values from the raw command line. cac (through mri) turns values that look like numbers into
 * numbers, which corrupts ids, addresses and passphrases ("0123" becomes 123, "1e5" becomes 100000), so the
 * id commands read their string options here. A spelling cac understood but this scan did not (such as
 * --containerId) is a usage error rather than a silently dropped caveat.
 */
import { AgentError } from "../../errors.ts";

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Every value given for `--name` (repeatable), in command-line order. */
export function rawValues(
  rawArgs: readonly string[],
  parsed: Record<string, unknown>,
  name: string,
): string[] {
  const flag = `--${name}`;
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === flag) {
      const next = rawArgs[i + 1];
      if (next === undefined || next.startsWith("-")) {
        throw new AgentError(
          "ERR_USAGE",
          `${flag} needs a value (write ${flag}=VALUE for a value starting with -)`,
        );
      }
      out.push(next);
      i++;
    } else if (arg.startsWith(`${flag}=`)) {
      out.push(arg.slice(flag.length + 1));
    }
  }
  const seen = parsed[camelCase(name)];
  const parsedCount = seen === undefined ? 0 : Array.isArray(seen) ? seen.length : 1;
  if (parsedCount !== out.length) throw new AgentError("ERR_USAGE", `write the option as ${flag} VALUE`);
  return out;
}

/** The value of a single-valued option, or undefined when it was not given. */
export function rawValue(
  rawArgs: readonly string[],
  parsed: Record<string, unknown>,
  name: string,
): string | undefined {
  const values = rawValues(rawArgs, parsed, name);
  if (values.length > 1) throw new AgentError("ERR_USAGE", `--${name} may be given only once`);
  return values[0];
}
