/** What `agent --version` prints: the version and the commit the binary was built from. */
import type { BuildInfo } from "./context.ts";

export function versionLine(build: BuildInfo): string {
  return `agent ${build.version} (${build.commit})\n`;
}

/** The arguments that ask only for the version (answered before anything else is loaded). */
export function asksForVersion(args: readonly string[]): boolean {
  return args.length === 1 && (args[0] === "--version" || args[0] === "-v" || args[0] === "version");
}
