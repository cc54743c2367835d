/**
 * Fixtures for the fleet's unit tests: a host's state directory in a temp dir (the real file system, so the
 * agent's own loaders read what the fleet writes), a clock and a monotonic clock the test moves, the pieces
 * of state as their files hold them (a policy, two CAs, a keyring, API keys) and values encoded for etcd.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createApiKey, emptyApiKeySet, saveApiKeys } from "../../../src/apikey/index.ts";
import { initAuthority } from "../../../src/ca/index.ts";
import { fleetKeys } from "../../../src/fleet/keys.ts";
import type { MaterializeDeps } from "../../../src/fleet/materialize.ts";
import { fleetFiles } from "../../../src/fleet/membership.ts";
import { encodePiece, type PieceContent } from "../../../src/fleet/values.ts";
import { initKeyring, saveKeyring } from "../../../src/macaroon/index.ts";
import { DEMO_POLICY } from "../../../src/policy/index.ts";
import type { Clock } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { removeTempDirs, seededRandom, tempDir } from "../../helpers/fixtures.ts";

export { removeTempDirs, seededRandom };

export const PREFIX = "/agent/test/";
export const NONCE_A = "AAAAAAAAAAAAAAAAAAAAAA";
export const NONCE_B = "BBBBBBBBBBBBBBBBBBBBBB";
export const NONCE_C = "CCCCCCCCCCCCCCCCCCCCCC";

/** A wall clock and a monotonic clock, both moved by the test only. */
export class FakeTime {
  wallMs: number;
  monoMs = 1_000_000;
  constructor(start = Date.parse("2030-05-06T07:08:09.000Z")) {
    this.wallMs = start;
  }
  readonly clock: Clock = () => new Date(this.wallMs);
  readonly monotonicMs = (): number => this.monoMs;
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }
}

/** A sleep that waits 1 ms whatever it is asked (and ends early on abort); records what was asked. */
export function quickSleep(): {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  asked: number[];
} {
  const asked: number[] = [];
  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      asked.push(ms);
      if (signal?.aborted) return resolve();
      const timer = setTimeout(resolve, 1);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  return { sleep, asked };
}

/** Polls `probe` (every millisecond) until it holds; fails with `what` after `timeoutMs`. */
export async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 3_000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface FleetHost {
  readonly root: string;
  readonly layout: ReturnType<typeof stateLayout>;
  readonly files: ReturnType<typeof fleetFiles>;
  readonly keys: ReturnType<typeof fleetKeys>;
  readonly fleetKey: Uint8Array;
  readonly time: FakeTime;
  readonly materialize: MaterializeDeps;
  read(path: string): Promise<string | undefined>;
}

export async function fleetHost(options: { fleetKey?: Uint8Array | null } = {}): Promise<FleetHost> {
  const root = await tempDir("agent-fleet-test-");
  const layout = stateLayout(join(root, "state"));
  const files = fleetFiles(layout);
  const time = new FakeTime();
  const fleetKey = options.fleetKey ?? seededRandom("fleet key")(32);
  return {
    root,
    layout,
    files,
    keys: fleetKeys(PREFIX),
    fleetKey,
    time,
    materialize: {
      fs: nodeFileSystem,
      layout,
      files,
      fleetKey: options.fleetKey === null ? undefined : fleetKey,
      clock: time.clock,
    },
    read: (path) => readFile(path, "utf8").catch(() => undefined),
  };
}

export interface CaMaterial {
  readonly "cluster.crt": string;
  readonly "crl.pem": string;
  readonly "index.json": string;
  readonly "cluster.key": string;
}

export interface Material {
  readonly policy: string;
  readonly policy2: string;
  readonly caA: CaMaterial;
  readonly caB: CaMaterial;
  readonly keyring: string;
  readonly keyring2: string;
  readonly apikeys: string;
}

let material: Promise<Material> | undefined;

async function makeCa(name: string): Promise<CaMaterial> {
  const root = await tempDir("agent-fleet-ca-");
  const caDir = join(root, "ca");
  await initAuthority({ fs: nodeFileSystem, clock: () => new Date(), random: seededRandom(name), caDir }, {
    name: "cluster",
  });
  const read = (file: string) => readFile(join(caDir, file), "utf8");
  return {
    "cluster.crt": await read("cluster.crt"),
    "crl.pem": await read("crl.pem"),
    "index.json": await read("index.json"),
    "cluster.key": await read("cluster.key"),
  };
}

async function makeMaterial(): Promise<Material> {
  const root = await tempDir("agent-fleet-material-");
  const layout = stateLayout(root);
  const clock = () => new Date("2030-01-01T00:00:00.000Z");
  await saveKeyring(nodeFileSystem, layout, await initKeyring(undefined, seededRandom("keyring"), clock));
  const keyring = await readFile(layout.macaroonKeys, "utf8");
  await saveKeyring(nodeFileSystem, layout, await initKeyring(undefined, seededRandom("keyring 2"), clock));
  const keyring2 = await readFile(layout.macaroonKeys, "utf8");
  const { set } = createApiKey(emptyApiKeySet(), { user: "alice" }, seededRandom("apikey"), clock);
  await saveApiKeys(nodeFileSystem, layout, set);
  const apikeys = await readFile(layout.apiKeys, "utf8");
  return {
    policy: DEMO_POLICY,
    policy2: DEMO_POLICY.replace(
      "rules:\n",
      "rules:\n  - id: no-list-for-bob\n    who: [bob]\n    deny: [container:list]\n",
    ),
    caA: await makeCa("ca A"),
    caB: await makeCa("ca B"),
    keyring,
    keyring2,
    apikeys,
  };
}

/** The pieces' files, made once per test file (CA keys take a moment). */
export function pieces(): Promise<Material> {
  material ??= makeMaterial();
  return material;
}

/** The CA piece's files (without the key). */
export function caFilesOf(
  ca: CaMaterial,
): { "cluster.crt": string; "crl.pem": string; "index.json": string } {
  return { "cluster.crt": ca["cluster.crt"], "crl.pem": ca["crl.pem"], "index.json": ca["index.json"] };
}

let sealCounter = 0;

/** A piece's value as an operator's `agent` publishes it. */
export function pieceValue(content: PieceContent, fleetKey: Uint8Array): Uint8Array {
  return encodePiece(content, { by: "operator", at: "2030-05-06T07:00:00.000Z" }, {
    fleetKey,
    random: seededRandom(`seal ${++sealCounter}`),
  });
}

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

export function json(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}
