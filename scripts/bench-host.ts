/**
 * The benches' host: a private dockerd guarded by the agent with its HTTPS API (tests/e2e/harness.ts
 * startApiHost), for one user with `policy`. Whatever happens (the bench returns, throws, or SIGINT or
 * SIGTERM arrives) it is stopped by pid once: `cleanups` first (the bench's own, e.g. a reference stream),
 * then dockerd and the agent, the plugin spec and the whole directory.
 */
import { rmSync } from "node:fs";
import { type ApiHost, type GuardedHost, startApiHost, tempDir } from "../tests/e2e/harness.ts";

export async function onApiHost(
  name: string,
  policy: string,
  user: string,
  bench: (api: ApiHost) => Promise<void>,
  cleanups: (() => Promise<void>)[] = [],
): Promise<void> {
  const dir = tempDir(name);
  let host: GuardedHost | undefined;
  let stopping: Promise<void> | undefined;
  const cleanup = () =>
    stopping ??= (async () => {
      for (const undo of cleanups.splice(0)) await undo().catch(() => undefined);
      await host?.stop();
      rmSync(dir, { recursive: true, force: true });
    })();
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const api = await startApiHost({ dir, plugin: `agent-${name}-${process.pid}`, policy, users: [user] });
    host = api.host;
    await bench(api);
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
