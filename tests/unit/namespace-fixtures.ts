/**
 * A host for the namespace tests: alice's, bob's, the team's and unlabelled containers, volumes and networks,
 * and a fake EngineLookup that resolves references the way dockerd does (full id, then exact name, then a
 * unique id prefix; volumes by name only) and counts what it was asked.
 */
import type {
  EngineLookup,
  NamespaceCaller,
  NamespacedKind,
  ObjectInfo,
} from "../../src/gateway/namespaces.ts";

export const NS = "io.agent.namespace";

const id = (prefix: string) => prefix.padEnd(64, prefix.at(-1)!);

export const IDS = {
  web: id("a1b2c3d4e5f6a"),
  db: id("b0b0b0b0b0b0b"),
  ci: id("c1c1c1c1c1c1c"),
  legacy: id("d0d0d0d0d0d0d"),
  lookalike: id("e0e0e0e0e0e0e"),
  bridge: id("f1f1f1f1f1f1f"),
  host: id("f2f2f2f2f2f2f"),
  none: id("f3f3f3f3f3f3f"),
  alicenet: id("0a0a0a0a0a0a0"),
  bobnet: id("0b0b0b0b0b0b0"),
  teamnet: id("0c0c0c0c0c0c0"),
  execInWeb: id("ea1ea1ea1ea1e"),
  execInDb: id("eb0eb0eb0eb0e"),
} as const;

const info = (idOf: string, name: string, labels: Record<string, string> = {}): ObjectInfo => ({
  id: idOf,
  name,
  labels,
});

export const CONTAINERS: readonly ObjectInfo[] = [
  info(IDS.web, "web", { [NS]: "alice", app: "web" }),
  info(IDS.db, "db", { [NS]: "bob" }),
  info(IDS.ci, "ci", { [NS]: "team" }),
  info(IDS.legacy, "legacy"),
  // Docker labels are case-sensitive: this one belongs to no namespace.
  info(IDS.lookalike, "lookalike", { "IO.AGENT.NAMESPACE": "alice" }),
];

export const NETWORKS: readonly ObjectInfo[] = [
  info(IDS.bridge, "bridge"),
  info(IDS.host, "host"),
  info(IDS.none, "none"),
  info(IDS.alicenet, "alicenet", { [NS]: "alice" }),
  info(IDS.bobnet, "bobnet", { [NS]: "bob" }),
  info(IDS.teamnet, "teamnet", { [NS]: "team" }),
];

export const VOLUMES: readonly ObjectInfo[] = [
  info("alicevol", "alicevol", { [NS]: "alice" }),
  info("bobvol", "bobvol", { [NS]: "bob" }),
  info("teamvol", "teamvol", { [NS]: "team" }),
  info("oldvol", "oldvol"),
];

export interface FakeLookup extends EngineLookup {
  /** Every call, as "kind ref". */
  readonly calls: string[];
  /** Lookups fail as if dockerd were unreachable. */
  down: boolean;
}

export function fakeLookup(): FakeLookup {
  const images = new Map<string, Record<string, string>>([
    ["tiny", {}],
    ["trojan", { [NS]: "bob" }],
    ["mine", { [NS]: "alice" }],
  ]);
  const execs = new Map<string, string>([[IDS.execInWeb, IDS.web], [IDS.execInDb, IDS.db]]);
  const lookup: FakeLookup = {
    calls: [],
    down: false,
    find(kind: NamespacedKind, ref: string) {
      lookup.calls.push(`${kind} ${ref}`);
      if (lookup.down) return Promise.reject(new Error("connect ENOENT /var/run/docker.sock"));
      return Promise.resolve(resolve(kind, ref));
    },
    containerOfExec(execId: string) {
      lookup.calls.push(`exec ${execId}`);
      if (lookup.down) return Promise.reject(new Error("connect ENOENT /var/run/docker.sock"));
      return Promise.resolve(execs.get(execId));
    },
    imageLabels(ref: string) {
      lookup.calls.push(`image ${ref}`);
      return Promise.resolve(images.get(ref));
    },
  };
  return lookup;
}

function resolve(kind: NamespacedKind, ref: string): ObjectInfo | undefined {
  if (kind === "volume") return VOLUMES.find((v) => v.name === ref);
  const all = kind === "container" ? CONTAINERS : NETWORKS;
  const byId = all.find((o) => o.id === ref);
  if (byId !== undefined) return byId;
  const byName = all.find((o) => o.name === ref.replace(/^\//, ""));
  if (byName !== undefined) return byName;
  const byPrefix = all.filter((o) => o.id.startsWith(ref));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/** alice: her own namespace and the organization `team` she is a member of. */
export const ALICE: NamespaceCaller = {
  namespace: "alice",
  mayAddress: (ns) => ns === "alice" || ns === "team",
  administrator: false,
};
export const BOB: NamespaceCaller = {
  namespace: "bob",
  mayAddress: (ns) => ns === "bob",
  administrator: false,
};
export const ADMIN: NamespaceCaller = { namespace: "root", mayAddress: () => true, administrator: true };
