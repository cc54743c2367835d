/**
 * The caveats the agent understands (from the 2015 Docker remote-API proposal), as typed values. Every name
 * has one parser, used at minting and at verification; anything else fails closed.
 */
import { AgentError } from "../../errors.ts";
import { type ExpiresCaveat, formatExpires, parseExpires } from "./expires.ts";
import { formatCaveat } from "./grammar.ts";
import { type ContainerIdCaveat, type ImageIdCaveat, parseContainerId, parseImageId } from "./ids.ts";
import { formatIpRange, type IpRange, parseIpRange } from "./ip.ts";
import { formatOp, type OpCaveat, parseOp } from "./op.ts";
import { CaveatRegistry } from "./registry.ts";

export interface IpCaveat {
  readonly name: "ip";
  readonly range: IpRange;
}

export type DockerCaveat = OpCaveat | ContainerIdCaveat | ImageIdCaveat | IpCaveat | ExpiresCaveat;

export const dockerCaveats: CaveatRegistry<DockerCaveat> = new CaveatRegistry<DockerCaveat>([
  { name: "op", parse: parseOp },
  { name: "container_id", parse: parseContainerId },
  { name: "image_id", parse: parseImageId },
  { name: "ip", parse: (value) => ({ name: "ip", range: parseIpRange(value) }) },
  { name: "expires", parse: parseExpires },
]);

/** Parses caveat text such as `op = read`; throws ERR_MACAROON_CAVEAT for unknown names or invalid values. */
export function parseDockerCaveat(text: string): DockerCaveat {
  return dockerCaveats.parse(text);
}

/** Parses one value for a named caveat (what `--op read` on the command line becomes). */
export function dockerCaveat(name: string, value: string): DockerCaveat {
  return dockerCaveats.parseValue(name, value);
}

/** Canonical caveat text; parseDockerCaveat(formatDockerCaveat(c)) gives back c. */
export function formatDockerCaveat(c: DockerCaveat): string {
  switch (c.name) {
    case "op":
      return formatCaveat("op", formatOp(c));
    case "container_id":
      return formatCaveat("container_id", c.id);
    case "image_id":
      return formatCaveat("image_id", c.id);
    case "ip":
      return formatCaveat("ip", formatIpRange(c.range));
    case "expires":
      return formatCaveat("expires", formatExpires(c));
  }
}

/**
 * Adapts a typed check into the `verify` callback: caveat text is parsed through the registry first, so unknown
 * or malformed caveats are refused before `check` ever sees them.
 */
export function dockerCaveatChecker(
  check: (caveat: DockerCaveat) => true | string,
): (predicate: string) => true | string {
  return (predicate) => {
    let caveat: DockerCaveat;
    try {
      caveat = dockerCaveats.parse(predicate);
    } catch (err) {
      if (err instanceof AgentError) return reasonFor(predicate);
      throw err;
    }
    return check(caveat);
  };
}

function reasonFor(predicate: string): string {
  const eq = predicate.indexOf("=");
  const name = eq < 0 ? predicate : predicate.slice(0, eq).trim();
  return dockerCaveats.has(name) ? "invalid value" : "unknown caveat";
}
