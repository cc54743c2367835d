/** The platform's sleep clears its timer when aborted: a stopped loop leaves nothing keeping the process up. */
import { describe, expect, test } from "bun:test";
import { abortableSleep } from "../../../src/runtime/sleep.ts";

describe("abortableSleep", () => {
  test("resolves as soon as its signal aborts, long before the time is up", async () => {
    const stop = new AbortController();
    let done = false;
    const sleeping = abortableSleep(60_000, stop.signal).then(() => (done = true));
    await Bun.sleep(5);
    expect(done).toBe(false);
    stop.abort();
    await sleeping;
    expect(done).toBe(true);
  });

  test("a process whose only timer is an aborted sleep exits at once", async () => {
    const script = `import { abortableSleep } from ${
      JSON.stringify(`${import.meta.dir}/../../../src/runtime/sleep.ts`)
    };
const stop = new AbortController();
void abortableSleep(600_000, stop.signal);
stop.abort();`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "pipe" });
    // Without the clearTimeout the child would live ten minutes; the test's own timeout catches that.
    expect(await child.exited).toBe(0);
  }, 20_000);
});
