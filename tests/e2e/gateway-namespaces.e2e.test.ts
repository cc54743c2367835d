/**
 * Namespaces on the Engine API through the gateway, with the real docker CLI: two users (alice, bob), an
 * organization (`team`: alice and carol), an administrator. Shown, for containers, volumes and networks: what
 * a user creates is stamped with its namespace; another namespace's object is "no such ..." by name, short id
 * and full id, for inspect, logs, exec, stop, rm; lists show only the caller's namespaces; a label naming
 * another namespace is refused; prunes stay in the caller's namespace; events too. The administrator sees
 * everything. A service made through the HTTPS API shows up in `docker ps` for its namespace only, and its
 * containers' role credentials are redacted in `docker inspect`. On the plugin socket, which cannot rewrite,
 * another namespace's container is refused by name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  e2eUnavailable,
  type GatewayHost,
  pluginCall,
  type RunResult,
  skipBanner,
  startGatewayHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable !== undefined && process.env["CI"] !== "true") {
  skipBanner("gateway-namespaces.e2e.test.ts", unavailable);
}

const POLICY = `version: 1
administrators: [admin, anonymous]
groups:
  team: [alice, carol]
rules:
  - id: local
    who: anonymous
    allow: ["*"]
  - id: admin
    who: [admin]
    allow: ["*"]
  - id: users
    who: [alice, bob, carol]
    allow: ["container:*", "exec:*", "volume:*", "network:*", "system:*", "image:list", "image:inspect"]
`;

const NAMESPACE = "io.agent.namespace";

describe.skipIf(unavailable !== undefined && process.env["CI"] !== "true")(
  "namespaces through the gateway",
  () => {
    let gw: GatewayHost;
    let aliceId = "";
    const as = (user: string, ...args: string[]): Promise<RunResult> => gw.docker(user, args);
    const ok = async (user: string, ...args: string[]): Promise<string> => {
      const r = await as(user, ...args);
      if (r.code !== 0) throw new Error(`docker ${args.join(" ")} as ${user}: ${r.stderr}`);
      return r.stdout.trim();
    };
    /** Asked as the host's administrator over dockerd's own socket. */
    const onHost = async (...args: string[]): Promise<string> => {
      const r = await gw.host.dockerd.docker(args);
      if (r.code !== 0) throw new Error(`docker ${args.join(" ")} on the socket: ${r.stderr}`);
      return r.stdout.trim();
    };

    beforeAll(async () => {
      gw = await startGatewayHost({
        dir: tempDir("gateway-ns"),
        plugin: `agent-gwns-${process.pid}`,
        policy: POLICY,
        users: ["alice", "bob", "carol", "admin"],
        keys: ["alice"],
      });
      aliceId = await ok(
        "alice",
        "run",
        "-d",
        "--name",
        "web-a",
        "--network",
        "none",
        "tiny:latest",
        "sleep",
        "600",
      );
      await ok("alice", "volume", "create", "vol-a");
      await ok("alice", "network", "create", "--internal", "net-a");
      await ok(
        "alice",
        "run",
        "-d",
        "--name",
        "web-team",
        "--label",
        `${NAMESPACE}=team`,
        "--network",
        "none",
        "tiny:latest",
        "sleep",
        "600",
      );
    }, 180_000);

    afterAll(async () => {
      await gw?.host.stop();
    }, 60_000);

    test("what a user creates is stamped with its namespace (containers, volumes, networks)", async () => {
      expect(await onHost("inspect", "-f", `{{index .Config.Labels "${NAMESPACE}"}}`, "web-a")).toBe("alice");
      expect(await onHost("volume", "inspect", "-f", `{{index .Labels "${NAMESPACE}"}}`, "vol-a")).toBe(
        "alice",
      );
      expect(await onHost("network", "inspect", "-f", `{{index .Labels "${NAMESPACE}"}}`, "net-a")).toBe(
        "alice",
      );
      expect(await onHost("inspect", "-f", `{{index .Config.Labels "${NAMESPACE}"}}`, "web-team")).toBe(
        "team",
      );
    });

    test("another namespace's container is 'No such container' by name, short id and full id", async () => {
      for (const ref of ["web-a", aliceId.slice(0, 12), aliceId]) {
        for (
          const args of [["inspect", "--type", "container", ref], ["logs", ref], ["exec", ref, "true"], [
            "stop",
            ref,
          ], ["rm", ref]]
        ) {
          const r = await as("bob", ...args);
          expect({ args, refused: r.code !== 0 }).toEqual({ args, refused: true });
          expect(r.stderr).toContain("No such container");
          if (ref === "web-a") expect(r.stderr).not.toContain(aliceId.slice(0, 12));
        }
      }
      // `docker rm -f` says nothing of a missing container (the CLI's own choice): it is not removed either.
      await as("bob", "rm", "-f", "web-a");
      // Nothing happened to it.
      expect(await onHost("inspect", "-f", "{{.State.Running}}", "web-a")).toBe("true");
      expect(await ok("alice", "exec", "web-a", "echo", "still mine")).toBe("still mine");
    }, 120_000);

    test(
      "lists show only the caller's namespaces; the organization's members share its namespace",
      async () => {
        const names = async (user: string) =>
          (await ok(user, "ps", "-a", "--format", "{{.Names}}")).split("\n").sort();
        expect(await names("alice")).toEqual(["web-a", "web-team"]);
        expect(await names("carol")).toEqual(["web-team"]);
        expect(await ok("bob", "ps", "-a", "--format", "{{.Names}}")).toBe("");
        expect(await names("admin")).toEqual(expect.arrayContaining(["web-a", "web-team"]));
        expect(await ok("carol", "exec", "web-team", "echo", "team member")).toBe("team member");
        const volumes = await ok("bob", "volume", "ls", "-q");
        expect(volumes.split("\n")).not.toContain("vol-a");
        expect((await ok("alice", "volume", "ls", "-q")).split("\n")).toContain("vol-a");
        const networks = (await ok("bob", "network", "ls", "--format", "{{.Name}}")).split("\n");
        expect(networks).not.toContain("net-a");
        expect(networks).toContain("none");
        expect((await ok("alice", "network", "ls", "--format", "{{.Name}}")).split("\n")).toContain("net-a");
      },
      60_000,
    );

    test("volumes and networks of another namespace are not found, taken or joined", async () => {
      const inspect = await as("bob", "volume", "inspect", "vol-a");
      expect(inspect.code).not.toBe(0);
      expect(inspect.stderr).toContain("no such volume");
      const taken = await as("bob", "volume", "create", "vol-a");
      expect(taken.code).not.toBe(0);
      const mounted = await as(
        "bob",
        "run",
        "--rm",
        "-v",
        "vol-a:/data",
        "--network",
        "none",
        "tiny:latest",
        "true",
      );
      expect(mounted.code).not.toBe(0);
      // 409, not dockerd's 404: the docker CLI would take a 404 for a missing image and try to pull it.
      expect(mounted.stderr).toContain("the volume vol-a is in use by another namespace");
      const joined = await as("bob", "run", "--rm", "--network", "net-a", "tiny:latest", "true");
      expect(joined.code).not.toBe(0);
      expect(joined.stderr).toContain("the network net-a is in use by another namespace");
      const removed = await as("bob", "network", "rm", "net-a");
      expect(removed.code).not.toBe(0);
      expect(await onHost("volume", "inspect", "-f", "{{.Name}}", "vol-a")).toBe("vol-a");
      // A named volume that does not exist yet is made in the caller's namespace, not left to dockerd unlabeled.
      await ok("bob", "run", "--rm", "-v", "vol-b:/data", "--network", "none", "tiny:latest", "true");
      expect(await onHost("volume", "inspect", "-f", `{{index .Labels "${NAMESPACE}"}}`, "vol-b")).toBe(
        "bob",
      );
    }, 60_000);

    test("a label naming another namespace, or any other io.agent. label, is refused", async () => {
      for (const label of [`${NAMESPACE}=alice`, "io.agent.service=x"]) {
        const r = await as(
          "bob",
          "run",
          "--rm",
          "--label",
          label,
          "--network",
          "none",
          "tiny:latest",
          "true",
        );
        expect(r.code).not.toBe(0);
      }
      const volume = await as("bob", "volume", "create", "--label", `${NAMESPACE}=team`, "vol-forged");
      expect(volume.code).not.toBe(0);
    }, 60_000);

    test("a prune stays in the caller's namespace", async () => {
      await ok("alice", "run", "--name", "stopped-a", "--network", "none", "tiny:latest", "true");
      await ok("bob", "run", "--name", "stopped-b", "--network", "none", "tiny:latest", "true");
      await ok("bob", "container", "prune", "-f");
      const left = (await onHost("ps", "-a", "--format", "{{.Names}}")).split("\n");
      expect(left).toContain("stopped-a");
      expect(left).not.toContain("stopped-b");
      await ok("alice", "rm", "stopped-a");
    }, 60_000);

    test("events: a user sees its own namespaces' events only", async () => {
      const since = String(Math.floor(Date.now() / 1000) - 1);
      await ok("alice", "run", "--rm", "--name", "evt-a", "--network", "none", "tiny:latest", "true");
      await ok("bob", "run", "--rm", "--name", "evt-b", "--network", "none", "tiny:latest", "true");
      const until = String(Math.floor(Date.now() / 1000) + 1);
      const seen = async (user: string) =>
        await ok(
          user,
          "events",
          "--since",
          since,
          "--until",
          until,
          "--format",
          "{{.Actor.Attributes.name}}",
        );
      await waitFor("the events", async () => (await seen("admin")).includes("evt-b"), 10_000);
      const bob = (await seen("bob")).split("\n");
      expect(bob).toContain("evt-b");
      expect(bob).not.toContain("evt-a");
    }, 60_000);

    test(
      "a service from the HTTPS API is in docker ps for its namespace, its role credential redacted",
      async () => {
        const api = (method: string, path: string, body?: unknown) =>
          fetch(`https://127.0.0.1:${gw.port}${path}`, {
            method,
            headers: {
              authorization: `Basic ${btoa(`alice:${gw.keys["alice"]}`)}`,
              accept: "application/json",
              ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            tls: { ca: gw.caPem },
          } as RequestInit);
        const created = await api("POST", "/api/app/v1/team/service/", {
          image: "tiny:latest",
          name: "svc",
          run_command: "sleep 600",
          roles: ["global"],
        });
        expect(created.status).toBe(201);
        const service = (await created.json()) as { resource_uri: string };
        expect((await api("POST", `${service.resource_uri}start/`)).status).toBeLessThan(300);
        await waitFor(
          "the service's container",
          async () => (await ok("carol", "ps", "--format", "{{.Names}}")).includes("svc"),
          30_000,
        );
        expect(await ok("bob", "ps", "--format", "{{.Names}}")).toBe("");
        const name = (await ok("carol", "ps", "--format", "{{.Names}}")).split("\n").find((n) =>
          n.startsWith("svc")
        )!;
        const env = await ok("carol", "inspect", "-f", "{{json .Config.Env}}", name);
        expect(env).toContain("AGENT_AUTH=");
        expect(env).not.toMatch(/AGENT_AUTH=Basic/);
        expect(env).not.toContain("agt_");
      },
      90_000,
    );

    test("on the plugin socket, which cannot rewrite, another namespace's container is refused by name", async () => {
      // What dockerd sends the plugin for bob's `docker inspect web-a` over its TLS port.
      const call = (user: string) =>
        pluginCall(
          gw.host.agent.socket,
          "/AuthZPlugin.AuthZReq",
          JSON.stringify({
            User: user,
            UserAuthNMethod: "TLS",
            RequestMethod: "GET",
            RequestUri: "/v1.41/containers/web-a/json",
          }),
        );
      const bob = await call("bob");
      expect(bob.json["Allow"]).toBe(false);
      expect(String(bob.json["Msg"])).toContain("another namespace");
      expect(String(bob.json["Msg"])).not.toContain(aliceId.slice(0, 12));
      expect((await call("alice")).json["Allow"]).toBe(true);
    });
  },
);
