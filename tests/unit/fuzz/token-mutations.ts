/**
 * Random token mutations at the macaroon gate for scripts/soak-fuzz.ts (the exhaustive quick version is
 * tests/unit/fuzz/token-fuzz.test.ts): seeded flips, truncations, splices and duplicated runs of valid
 * tokens in every encoding and of a header stack with a bound discharge. Every one must be refused with a
 * macaroon:* or caveat:* rule, never allowed and never a raw exception.
 */
import { macaroonGate } from "../../../src/decide/macaroon-gate.ts";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  decodeStack,
  dockerCaveat,
  emptyRevocations,
  encodeMacaroon,
  encodeStack,
  initKeyring,
  type MacaroonFormat,
  mint,
  mintToken,
} from "../../../src/macaroon/index.ts";
import { facts, fakeDaemon, movableClock, seededRandom } from "../decide/macaroon-gate-helpers.ts";
import { prng } from "./wire-mutations.ts";

export interface TokenFuzzReport {
  count: number;
  seconds: number;
  failures: string[];
}

function canonical(text: string): string | undefined {
  try {
    return encodeStack([...decodeStack(text)]);
  } catch {
    return undefined;
  }
}

export async function runTokenFuzz(
  seed: number,
  deadlineMs: number,
  maxCount = 50_000_000,
): Promise<TokenFuzzReport> {
  const random = seededRandom(`soak-${seed}`);
  const clock = movableClock();
  const keyring = await initKeyring(undefined, random, clock);
  const gate = macaroonGate({
    keyring,
    revocations: emptyRevocations(),
    resolver: fakeDaemon(),
    clock,
    cacheEntries: 64,
  });
  const third = seededRandom(`third-${seed}`)(32);
  const token = (f: MacaroonFormat, ...caveats: [string, string][]) =>
    encodeMacaroon(mintToken(keyring, random, caveats.map(([n, v]) => dockerCaveat(n, v))).macaroon, f);
  const stack = () => {
    const root = addThirdPartyCaveat(
      mintToken(keyring, random, [dockerCaveat("op", "read")]).macaroon,
      third,
      "user is alice",
      undefined,
      random,
    );
    return encodeStack([
      root,
      bindForRequest(root, addFirstPartyCaveat(mint(third, "user is alice"), "op = read")),
    ]);
  };
  const valid: string[] = [];
  for (const f of ["v2", "v2j", "v1", "v1j"] as const) {
    valid.push(token(f, ["op", "read"]), token(f, ["op", "read,write"], ["expires", "2027-01-01T00:00:00Z"]));
  }
  valid.push(stack(), stack());
  const originals = new Set(valid.map(canonical));

  const rng = prng(seed);
  const int = (n: number) => Math.floor(rng() * n);
  const report: TokenFuzzReport = { count: 0, seconds: 0, failures: [] };
  const started = performance.now();
  while (report.count < maxCount && performance.now() < deadlineMs) {
    const x = valid[int(valid.length)]!;
    let t: string;
    const op = int(4);
    if (op === 0) {
      const chars = [...x];
      for (let n = 1 + int(3); n > 0; n--) {
        const i = int(chars.length);
        chars[i] = String.fromCharCode(chars[i]!.charCodeAt(0) ^ (1 << int(7)));
      }
      t = chars.join("");
    } else if (op === 1) {
      t = rng() < 0.5 ? x.slice(0, int(x.length)) : x.slice(1 + int(x.length - 1));
    } else if (op === 2) {
      const y = valid[int(valid.length)]!;
      t = x.slice(0, int(x.length + 1)) + y.slice(int(y.length + 1));
    } else {
      const i = int(x.length);
      const len = 1 + int(40);
      t = x.slice(0, i + len) + x.slice(i);
    }
    if (valid.includes(t) || originals.has(canonical(t))) continue;
    report.count++;
    try {
      const v = await gate.check(facts("GET", "/v1.41/containers/json", { token: t }));
      if (v.allow || !/^(macaroon|caveat):/.test(v.ruleId ?? "")) {
        report.failures.push(
          `token seed ${seed} #${report.count} op ${op}: ${v.allow ? "allowed" : v.ruleId}`,
        );
      }
    } catch (err) {
      report.failures.push(
        `token seed ${seed} #${report.count} op ${op}: raw exception ${String(err).slice(0, 120)}`,
      );
    }
    if (report.failures.length >= 20) break;
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
