import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentCli, freePort, importTinyImage, run, startDockerd, tempDir } from "../tests/e2e/harness.ts";
const dir = tempDir("hapdbg");
const state = join(dir, "state");
const certs = join(dir, "certs");
await agentCli(["ca", "init", "--state-dir", state]);
await agentCli(["ca", "create-server-certificate", "localhost", "--out", certs, "--state-dir", state]);
await agentCli([
  "ca",
  "create-api-certificate",
  "u",
  "--docker-layout",
  "--out",
  join(certs, "u"),
  "--state-dir",
  state,
]);
const d = await startDockerd({ dir: join(dir, "dockerd"), authorizationPlugins: [] });
try {
  await importTinyImage(d, dir);
  console.log(
    await d.docker(["run", "-d", "--name", "cc", "--network", "none", "tiny:latest", "sleep", "100000"]),
  );
  const big = join(dir, "big");
  const fd = openSync(big, "w");
  ftruncateSync(fd, 1024 * 1024 * 1024);
  closeSync(fd);
  const pem = join(dir, "h.pem");
  writeFileSync(
    pem,
    readFileSync(join(certs, "localhost.crt"), "utf8") + readFileSync(join(certs, "localhost.key"), "utf8"),
  );
  for (const variant of (process.env.VARIANTS ?? "a").split(",")) {
    const port = freePort();
    const extraGlobal = variant.includes("t1") ? "    nbthread 1\n" : "";
    const reuse = variant.includes("noreuse")
      ? ""
      : variant.includes("never")
      ? "    http-reuse never\n"
      : "    http-reuse always\n";
    const close = variant.includes("close")
      ? "    option http-server-close\n"
      : "    option http-keep-alive\n";
    const cfg =
      `global\n    maxconn 4000\n${extraGlobal}defaults\n    mode http\n${close}${reuse}    timeout connect 10s\n    timeout client 10m\n    timeout server 10m\n    timeout http-keep-alive 10m\nfrontend f\n    bind 127.0.0.1:${port} ssl crt ${pem} ca-file ${
        join(state, "ca", "cluster.crt")
      } verify required\n    default_backend b\nbackend b\n    server s ${d.socket}\n`;
    writeFileSync(join(dir, "h.cfg"), cfg);
    const h = Bun.spawn(["/usr/sbin/haproxy", "-db", "-f", join(dir, "h.cfg")], {
      stdout: "inherit",
      stderr: "inherit",
    });
    await Bun.sleep(500);
    for (let i = 0; i < Number(process.env.N ?? 4); i++) {
      const t0 = performance.now();
      const r = await run(["docker", "cp", big, "cc:/big"], {
        env: {
          DOCKER_HOST: `tcp://127.0.0.1:${port}`,
          DOCKER_TLS_VERIFY: "1",
          DOCKER_CERT_PATH: join(certs, "u"),
          DOCKER_CONFIG: join(dir, "dc"),
        },
        timeoutMs: 25_000,
      });
      console.log(
        variant,
        i,
        r.code,
        ((performance.now() - t0) / 1000).toFixed(1),
        "s",
        r.stderr.slice(0, 200),
      );
    }
    h.kill();
    await h.exited;
  }
} finally {
  await d.stop();
  Bun.spawnSync(["rm", "-rf", dir]);
}
