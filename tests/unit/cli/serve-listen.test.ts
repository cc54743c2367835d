/**
 * `agent serve --listen`: every option is checked before anything is created. A bad ADDR:PORT, certificate
 * options without --listen or without each other, and --listen with neither a CA nor --tls-cert are usage
 * errors (exit 2) that leave the state directory untouched: the API is never served over plain HTTP.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseListenAddress } from "../../../src/api/index.ts";
import { serveCommands } from "../../../src/cli/serve.ts";
import { removeTempDirs, runAgent, tempDir } from "./context.ts";

afterAll(removeTempDirs);

describe("--listen ADDR:PORT", () => {
  test("takes IPv4, bracketed IPv6 and host names, with a port (0: any free one)", () => {
    expect(parseListenAddress("127.0.0.1:8443")).toEqual({
      hostname: "127.0.0.1",
      port: 8443,
      wildcard: false,
      display: "127.0.0.1:8443",
    });
    expect(parseListenAddress("0.0.0.0:443")).toMatchObject({ wildcard: true });
    expect(parseListenAddress("[::]:8443")).toMatchObject({
      hostname: "::",
      wildcard: true,
      display: "[::]:8443",
    });
    expect(parseListenAddress("[::1]:8443")).toMatchObject({ hostname: "::1", wildcard: false });
    expect(parseListenAddress("[2001:DB8:0:0::1]:1")).toMatchObject({ hostname: "2001:db8::1" });
    expect(parseListenAddress("Host.Example:8443")).toMatchObject({ hostname: "host.example" });
    expect(parseListenAddress("127.0.0.1:0").port).toBe(0);
  });

  test("refuses anything else with the expected form in the message", () => {
    for (
      const bad of [
        "8443",
        ":8443",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:123456",
        "127.0.0.1:-1",
        "::1:8443",
        "[127.0.0.1]:8443",
        "[::1]",
        "256.1.1.1:8443",
        "host_name:8443",
        "http://127.0.0.1:8443",
        "127.0.0.1:8443 ",
      ]
    ) {
      expect(() => parseListenAddress(bad)).toThrow(
        `--listen must be ADDR:PORT, for example 0.0.0.0:8443, 127.0.0.1:8443, [::1]:8443 or host.example:8443 (got ${
          JSON.stringify(bad)
        })`,
      );
    }
  });
});

describe("agent serve --listen: usage errors before anything is created", () => {
  const serve = async (args: string[]) => {
    const dir = await tempDir();
    const state = join(dir, "state");
    const run = await runAgent([
      "serve",
      "--state-dir",
      state,
      "--demo",
      "--socket",
      join(dir, "a.sock"),
      ...args,
    ], [
      serveCommands,
    ]);
    return { ...run, created: existsSync(state) };
  };

  test("a bad ADDR:PORT is exit 2", async () => {
    const r = await serve(["--listen", "localhost:99999"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--listen must be ADDR:PORT");
    expect(r.created).toBe(false);
  });

  test("--listen without a CA and without --tls-cert is exit 2, never plain HTTP", async () => {
    const r = await serve(["--listen", "127.0.0.1:8443"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--listen needs a certificate: run `agent ca init`");
    expect(r.err).toContain(
      "or pass --tls-cert FILE --tls-key FILE. The API is never served over plain HTTP",
    );
    expect(r.created).toBe(false);
  });

  test("--tls-cert and --tls-key need --listen and each other", async () => {
    const alone = await serve(["--tls-cert", "/x.pem", "--tls-key", "/x.key"]);
    expect(alone.code).toBe(2);
    expect(alone.err).toContain(
      "--tls-cert and --tls-key are for the HTTPS listener: add --listen ADDR:PORT",
    );
    const half = await serve(["--listen", "127.0.0.1:8443", "--tls-cert", "/x.pem"]);
    expect(half.code).toBe(2);
    expect(half.err).toContain("give --tls-cert FILE and --tls-key FILE together");
    expect(alone.created || half.created).toBe(false);
  });

  test("an unreadable --tls-cert and a file that is not PEM are exit 2 too", async () => {
    const missing = await serve([
      "--listen",
      "127.0.0.1:8443",
      "--tls-cert",
      "/nonexistent.pem",
      "--tls-key",
      "/x",
    ]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("--tls-cert: cannot read /nonexistent.pem");
    const dir = await tempDir();
    const notPem = join(dir, "cert.pem");
    await Bun.write(notPem, "hello");
    const bad = await serve(["--listen", "127.0.0.1:8443", "--tls-cert", notPem, "--tls-key", notPem]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`--tls-cert: ${notPem} holds no PEM certificate`);
    expect(missing.created || bad.created).toBe(false);
  });
});
