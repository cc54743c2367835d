/**
 * The web console in a real browser: Debian's headless Chromium driven by playwright-core (pointed at
 * /usr/bin/chromium; nothing downloads a browser), against the agent's real HTTPS listener on a guarded
 * private dockerd. Shown: sign-in with an API key; a docker command the plugin denies appears in the live
 * view within a second; a key revoked from the page makes the agent's CLI get 401; a hostile container name
 * and a hostile log line render as text and run no script; a read-only user sees no stop button and is
 * refused when it forges the request; the terminal runs `echo` in a container. A screenshot of each page is
 * saved under artifacts/console/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  agentCli,
  type ApiHost,
  e2eUnavailable,
  ROOT,
  run,
  skipBanner,
  startApiHost,
  tempDir,
} from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const unavailable = e2eUnavailable() ??
  (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`);
if (unavailable) skipBanner("console.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const ARTIFACTS = join(ROOT, "artifacts", "console");
const HOSTILE = "<img src=x onerror=window.__pwned=1>";

const POLICY = `version: 1
administrators: [root]
rules:
  - id: local-reads          # the test's docker CLI (the unix socket) may look and import the image
    who: anonymous
    allow: [container:list, container:inspect, "image:*"]
  - id: operators
    who: [root]
    allow: ["*"]
  - id: writers
    who: [alice]
    allow: ["container:*", "exec:*", "system:events"]
  - id: readers
    who: [carol]
    allow: [container:list, container:inspect, container:logs, system:events]
`;

type Json = Record<string, unknown>;

maybe("the web console in Chromium", () => {
  let api: ApiHost;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let aliceContainer = "";
  let carolContainer = "";
  /** Every secret the console met (keys typed or made, macaroons given, CSRF tokens): scanned for at the end. */
  const secrets: { what: string; value: string }[] = [];

  const rest = async (user: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.base}${path}`, {
      method,
      headers: {
        authorization: api.authorization(user),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      tls: { ca: api.caPem },
    } as RequestInit);
    const text = await res.text();
    return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as Json };
  };

  /** A started service of one container in NAMESPACE ("" = the user's own), made by USER; its container's id. */
  const runService = async (user: string, name: string, command: string, namespace = "") => {
    const services = `/api/app/v1/${namespace === "" ? "" : `${namespace}/`}service/`;
    const created = await rest(user, "POST", services, { image: "tiny:latest", name, run_command: command });
    expect(created.status).toBe(201);
    const started = await rest(user, "POST", `${services}${created.body["uuid"]}/start/`);
    expect(started.status).toBe(202);
    const uri = (started.body["containers"] as string[])[0]!;
    return uri.split("/").filter((p) => p !== "").pop()!;
  };

  const docker = (args: string[]) =>
    run(["docker", "-H", `unix://${api.host.dockerd.socket}`, ...args], {
      env: { DOCKER_CONFIG: join(api.host.dockerd.dir, "docker-config") },
    });

  /** A fresh browser profile signed in as USER with their API key, on PAGE (a hash route). */
  const signIn = async (user: string, key = api.keys[user]!): Promise<Page> => {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1400, height: 900 },
    });
    contexts.push(context);
    const page = await context.newPage();
    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(`${api.base}/console/`);
    await page.fill("#signin-user", user);
    await page.fill("#signin-key", key);
    await page.click("#signin-submit");
    await page.waitForSelector("#signout", { timeout: 10_000 });
    await noteSession(page);
    return page;
  };

  /** Notes a signed-in page's CSRF token as a secret (its cookie is read from the context at the end). */
  const noteSession = async (page: Page) => {
    const session = await page.evaluate(async () =>
      (await (await fetch("/console/api/session")).json()) as Json
    );
    secrets.push({ what: "a CSRF token", value: String(session["csrf"]) });
  };

  /** A browser profile that presents USER's client certificate (issued by the first certificate test). */
  const certificateContext = async (user: string): Promise<BrowserContext> => {
    const out = join(api.state, "..", "certs");
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [{
        origin: api.base,
        certPath: join(out, `${user}.crt`),
        keyPath: join(out, `${user}.key`),
      }],
    });
    contexts.push(context);
    return context;
  };

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  const containerRow = (page: Page, id: string) =>
    page.locator(`tr[data-kind="container"][data-uuid="${id}"]`);

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    api = await startApiHost({
      dir: tempDir("console"),
      plugin: `agent-console-e2e-${process.pid}`,
      policy: POLICY,
      users: ["root", "alice", "carol"],
    });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    aliceContainer = await runService("alice", "box", `sh -c 'echo "${HOSTILE}"; sleep 3600'`);
    // carol may only read: an administrator places a service in her namespace.
    carolContainer = await runService("root", "ro", "sleep 3600", "carol");
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await api?.host.stop();
  });

  test("sign in with an API key; a wrong key is refused with a reason and no key in the page", async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    contexts.push(context);
    const page = await context.newPage();
    const response = await page.goto(`${api.base}/console/`);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await page.fill("#signin-user", "alice");
    await page.fill("#signin-key", "agt_wrong");
    await page.click("#signin-submit");
    await page.waitForFunction(() => (document.getElementById("signin-error")?.textContent ?? "") !== "");
    expect(await page.textContent("#signin-error")).toMatch(/refused/i);
    expect(await page.content()).not.toContain("agt_wrong");
    await shot(page, "signin");
    const alice = await signIn("alice");
    const cookies = await alice.context().cookies();
    const cookie = cookies.find((c) => c.name === "agent_console")!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict" });
    expect(await alice.evaluate(() => document.cookie)).toBe(""); // HttpOnly: not readable by script
  }, 60_000);

  test("sign in with the client certificate the browser presents", async () => {
    const out = join(api.state, "..", "certs");
    const issued = await agentCli([
      "ca",
      "create-api-certificate",
      "carol",
      "--out",
      out,
      "--state-dir",
      api.state,
    ]);
    expect(issued.code).toBe(0);
    const context = await certificateContext("carol");
    const page = await context.newPage();
    await page.goto(`${api.base}/console/`);
    await page.click("#signin-cert");
    await page.waitForSelector("#signout", { timeout: 10_000 });
    await noteSession(page);
    const session = await page.evaluate(async () =>
      (await (await fetch("/console/api/session")).json()) as Json
    );
    expect(session).toMatchObject({ user: "carol", via: "certificate", administrator: false });
  }, 60_000);

  test("a docker command the plugin denies appears in the live view within a second", async () => {
    const page = await signIn("root");
    await page.click('a[data-nav="live"]');
    await page.waitForSelector("tr[data-decision-id]", { timeout: 10_000 });
    const denied = await docker(["volume", "create", "console-probe"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("authorization denied");
    const started = performance.now();
    const row = page.locator('tr[data-decision-id]:has(td[data-col="action"]:text-is("volume:create"))');
    await row.first().waitFor({ timeout: 1_000 });
    const shown = performance.now() - started;
    console.log(
      `console e2e: the denied decision was in the live view ${shown.toFixed(0)} ms after docker exited`,
    );
    expect(await row.first().locator('td[data-col="outcome"]').textContent()).toMatch(/denied/i);
    expect(await row.first().locator('td[data-col="user"]').textContent()).toContain("anonymous");
    await shot(page, "live");
    // The filters: denied only, then the namespace carol (the administrator's calls that addressed it).
    await page.selectOption("#live-filter-outcome", "denied");
    const outcomes = await page.locator('tr[data-decision-id] td[data-col="outcome"]').allTextContents();
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.every((o) => /denied/i.test(o))).toBe(true);
    await page.selectOption("#live-filter-outcome", "");
    await page.fill("#live-filter-namespace", "carol");
    const objects = await page.locator('tr[data-decision-id] td[data-col="object"]').evaluateAll((cells) =>
      cells.map((c) => c.getAttribute("title") ?? "")
    );
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.every((uri) => uri.includes("/carol/"))).toBe(true);
    await page.fill("#live-filter-namespace", "");
    await row.first().click();
    await page.waitForFunction(() =>
      (document.getElementById("live-detail-json")?.textContent ?? "").includes("volume:create")
    );
    expect(JSON.parse((await page.textContent("#live-detail-json"))!)).toMatchObject({
      action: "volume:create",
      allow: false,
    });
    await shot(page, "live-detail");
  }, 60_000);

  test("a hostile container name and log line render as text and run no script", async () => {
    const page = await signIn("root");
    await page.click('a[data-nav="live"]');
    await page.waitForSelector("tr[data-decision-id]", { timeout: 10_000 });
    const refused = await docker(["rm", HOSTILE]);
    expect(refused.code).not.toBe(0);
    const cell = page.locator(`td[data-col="object"]:text-is("${HOSTILE}")`);
    await cell.first().waitFor({ timeout: 5_000 });
    expect(await page.locator("img[src='x']").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await shot(page, "live-hostile");

    const alice = await signIn("alice");
    await alice.click('a[data-nav="namespaces"]');
    const row = containerRow(alice, aliceContainer);
    await row.locator('button[data-action="logs"]').click({ timeout: 15_000 });
    await alice.waitForFunction(
      (text) => (document.getElementById("logs-output")?.textContent ?? "").includes(text),
      HOSTILE,
      { timeout: 10_000 },
    );
    expect(await alice.locator("img[src='x']").count()).toBe(0);
    expect(await alice.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await shot(alice, "namespaces-logs");
  }, 60_000);

  test("a read-only user sees no stop button and is refused when it forges the request", async () => {
    const page = await signIn("carol");
    await page.click('a[data-nav="namespaces"]');
    const row = containerRow(page, carolContainer);
    await row.waitFor({ timeout: 15_000 });
    await row.locator('button[data-action="logs"]').waitFor({ timeout: 10_000 });
    expect(await row.locator('button[data-action="stop"]').count()).toBe(0);
    expect(await row.locator('button[data-action="terminal"]').count()).toBe(0);
    expect(await page.locator('button[data-action="stop"]').count()).toBe(0);
    await shot(page, "namespaces-readonly");
    // The same request the button would send, with the session's own CSRF token: the policy refuses it.
    const forged = await page.evaluate(async (id) => {
      const session = await (await fetch("/console/api/session")).json() as { csrf: string };
      const res = await fetch(`/api/app/v1/container/${id}/stop/`, {
        method: "POST",
        headers: { "x-csrf-token": session.csrf },
      });
      return { status: res.status, body: await res.text() };
    }, carolContainer);
    expect(forged.status).toBe(403);
    expect(forged.body).toContain("carol");
    const after = await rest("root", "GET", `/api/app/v1/carol/container/${carolContainer}/`);
    expect(after.body["state"]).toBe("Running");
  }, 60_000);

  test("the terminal runs echo in a container", async () => {
    const page = await signIn("alice");
    await page.click('a[data-nav="namespaces"]');
    await containerRow(page, aliceContainer).locator('button[data-action="terminal"]').click({
      timeout: 15_000,
    });
    await page.waitForSelector("#terminal-input", { timeout: 10_000 });
    await page.waitForFunction(
      () => document.getElementById("terminal-status")?.textContent === "connected",
      undefined,
      { timeout: 10_000 },
    );
    await page.fill("#terminal-input", "echo hello-$((6*7))");
    await page.press("#terminal-input", "Enter");
    await page.waitForFunction(
      () => (document.getElementById("terminal-output")?.textContent ?? "").includes("hello-42"),
      undefined,
      { timeout: 10_000 },
    );
    await shot(page, "namespaces-terminal");
  }, 60_000);

  test("a writer scales and stops a service from the page", async () => {
    const page = await signIn("alice");
    await page.click('a[data-nav="namespaces"]');
    const service = page.locator('tr[data-kind="service"]:has(td[data-col="name"]:text-is("box"))');
    await service.locator('button[data-action="scale"]').waitFor({ timeout: 15_000 });
    await service.locator("input[data-scale-input]").fill("2");
    await service.locator('button[data-action="scale"]').click();
    await page.locator('tr[data-kind="container"]:has(td[data-col="name"]:text-is("box-2"))').waitFor({
      timeout: 20_000,
    });
    await service.locator('td[data-col="containers"]:text-is("2 / 2")').waitFor({ timeout: 20_000 });
    // The service reads Scaling until its action ends (a stop meanwhile is refused: 409).
    await service.locator('td[data-col="state"]:has-text("Running")').waitFor({ timeout: 20_000 });
    await service.locator('button[data-action="stop"]').click();
    await page.waitForFunction(() =>
      /accepted|failed/.test(document.getElementById("ns-message")?.textContent ?? "")
    );
    expect(await page.textContent("#ns-message")).toContain("accepted");
    await service.locator('td[data-col="state"]:has-text("Stopped")').waitFor({ timeout: 30_000 });
    const listed = await rest("alice", "GET", "/api/app/v1/service/");
    expect((listed.body["objects"] as Json[]).map((o) => [o["name"], o["state"], o["target_num_containers"]]))
      .toEqual([["box", "Stopped", 2]]);
    await shot(page, "namespaces");
  }, 90_000);

  test("a key made on the page works once copied; revoked from the page, the CLI gets 401", async () => {
    const page = await signIn("alice");
    await page.click('a[data-nav="identities"]');
    await page.fill("#apikey-name", "laptop");
    await page.click("#apikey-create");
    await page.waitForFunction(() =>
      (document.getElementById("apikey-new")?.textContent ?? "").startsWith("agt_")
    );
    const key = (await page.textContent("#apikey-new"))!.trim();
    secrets.push({ what: "an API key made on the page", value: key });
    const env = {
      AGENT_HOST: api.base,
      AGENT_USER: "alice",
      AGENT_APIKEY: key,
      AGENT_CACERT: join(api.state, "ca", "cluster.crt"),
    };
    const before = await agentCli(["service", "ls"], env);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain("box");
    // Shown once: the list the page reads holds no key, and a reload of the page shows it no more.
    const list = await page.evaluate(async () =>
      (await (await fetch("/console/api/apikeys")).json()) as Json
    );
    expect(JSON.stringify(list)).not.toContain(key);
    const laptop = (list["keys"] as Json[]).find((k) => k["name"] === "laptop")!;
    await page.reload();
    await page.waitForSelector(`button[data-revoke-key="${laptop["id"]}"]`, { timeout: 10_000 });
    expect(await page.content()).not.toContain(key);
    await page.click(`button[data-revoke-key="${laptop["id"]}"]`);
    await page.locator(`tr.revoked[data-key-id="${laptop["id"]}"]`).waitFor({ timeout: 10_000 });
    await shot(page, "identities");
    const after = await agentCli(["service", "ls"], env);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("401");
    expect(after.stderr).not.toContain(key);
  }, 60_000);

  test("an administrator revokes a certificate from the page: its holder can no longer sign in", async () => {
    const context = await certificateContext("carol");
    const page = await signIn("root");
    await page.click('a[data-nav="identities"]');
    const listed = await page.evaluate(async () =>
      (await (await fetch("/console/api/certificates")).json()) as Json
    );
    const carol = (listed["certificates"] as Json[]).find((c) =>
      c["name"] === "carol" && c["status"] === "valid"
    )!;
    await page.click(`button[data-revoke-cert="${carol["serial"]}"]`, { timeout: 10_000 });
    await page.locator(`tr.revoked[data-serial="${carol["serial"]}"]`).waitFor({ timeout: 10_000 });
    await shot(page, "identities-admin");
    const holder = await context.newPage();
    await holder.goto(`${api.base}/console/`).catch(() => undefined);
    const refused = await holder.evaluate(async () => {
      const res = await fetch("/console/api/session", { method: "POST", body: "{}" });
      return res.status;
    }).catch(() => 0);
    expect(refused).toBe(401);
  }, 60_000);

  test(
    "the policy page tries a decision as agent policy test does, and the hosts page shows the gates",
    async () => {
      const page = await signIn("root");
      await page.click('a[data-nav="policy"]');
      await page.fill("#policy-try-user", "carol");
      await page.selectOption("#policy-try-method", "POST");
      await page.fill("#policy-try-uri", "/v1.41/containers/abc/stop");
      await page.click("#policy-try-submit");
      await page.waitForSelector("#policy-try-allow[data-allow]", { timeout: 10_000 });
      expect(await page.getAttribute("#policy-try-allow", "data-allow")).toBe("false");
      expect(await page.textContent("#policy-try-action")).toContain("container:stop");
      // The same answer as `agent policy test` with the same policy and request.
      const cli = await agentCli([
        "policy",
        "test",
        "--policy",
        join(api.state, "..", "policy.yaml"),
        "--user",
        "carol",
        "--method",
        "POST",
        "--uri",
        "/v1.41/containers/abc/stop",
      ]);
      expect(cli.stdout).toContain("deny  action=container:stop  effect=write");
      expect(cli.stdout).toContain((await page.textContent("#policy-try-reason"))!.trim());
      await shot(page, "policy");
      await page.click('a[data-nav="hosts"]');
      await page.waitForFunction(() =>
        (document.getElementById("host-gates")?.textContent ?? "").includes("policy")
      );
      await shot(page, "hosts");
    },
    60_000,
  );

  // Last: it turns the macaroon gate on for the whole host.
  test("on a host with the macaroon gate, the session carries the macaroon given at sign-in", async () => {
    const init = await agentCli(["id", "init", "--state-dir", api.state]);
    expect(init.code).toBe(0);
    const minted = await agentCli(["id", "create", "--op", "read", "--state-dir", api.state]);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trim().split("\n").pop()!;
    secrets.push({ what: "a macaroon given at sign-in", value: token });
    // Without one: every API call of the page is refused by the gate, and the page says why.
    const bare = await signIn("alice");
    await bare.click('a[data-nav="namespaces"]');
    await bare.waitForFunction(
      () => /macaroon/i.test(document.getElementById("ns-message")?.textContent ?? ""),
      undefined,
      {
        timeout: 10_000,
      },
    );
    // With a read-only one: the lists load, a start is refused by its caveat.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${api.base}/console/`);
    await page.fill("#signin-user", "alice");
    await page.fill("#signin-key", api.keys["alice"]!);
    await page.click(".signin-macaroon summary");
    await page.fill("#signin-macaroon", token);
    await page.click("#signin-submit");
    await page.waitForSelector("#signout", { timeout: 10_000 });
    const session = await page.evaluate(async () => await (await fetch("/console/api/session")).text());
    expect(JSON.parse(session)).toMatchObject({ user: "alice", macaroon: true });
    expect(session).not.toContain(token);
    await page.click('a[data-nav="namespaces"]');
    const row = containerRow(page, aliceContainer);
    await row.locator('button[data-action="start"]').click({ timeout: 15_000 });
    await page.waitForFunction(() => /failed/.test(document.getElementById("ns-message")?.textContent ?? ""));
    expect(await page.textContent("#ns-message")).toMatch(/op/);
    const after = await rest("root", "GET", `/api/app/v1/alice/container/${aliceContainer}/`);
    expect(after.status).toBe(403); // root has no macaroon either: the gate is on for every API call
    await shot(page, "namespaces-macaroon");
  }, 60_000);

  test("no session cookie, CSRF token, API key or macaroon appears in serve.log, the audit log or the state", async () => {
    for (const context of contexts) {
      for (const cookie of await context.cookies()) {
        if (cookie.name === "agent_console") secrets.push({ what: "a session cookie", value: cookie.value });
      }
    }
    for (const [user, key] of Object.entries(api.keys)) {
      secrets.push({ what: `${user}'s API key`, value: key });
    }
    expect(secrets.filter((s) => s.what === "a session cookie").length).toBeGreaterThanOrEqual(3);
    expect(secrets.filter((s) => s.what === "a CSRF token").length).toBeGreaterThanOrEqual(5);
    expect(secrets.some((s) => s.what === "a macaroon given at sign-in")).toBe(true);
    // Everything under the state directory (serve.log, audit logs, keys, sessions if any were written).
    const files: string[] = [];
    const walk = (at: string) => {
      for (const entry of readdirSync(at, { withFileTypes: true })) {
        const path = join(at, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) files.push(path);
      }
    };
    walk(api.state);
    expect(files.some((f) => f.endsWith("serve.log"))).toBe(true);
    expect(files.some((f) => /audit\.log/.test(f))).toBe(true);
    const leaks: string[] = [];
    let consoleCalls = 0; // the scan reads what the console's calls wrote (a control that it can find text)
    for (const file of files) {
      const text = readFileSync(file, "latin1");
      consoleCalls += (text.match(/"door": ?"api"/g) ?? []).length;
      for (const s of secrets) {
        if (s.value.length >= 16 && text.includes(s.value)) leaks.push(`${s.what} in ${file}`);
      }
    }
    expect(consoleCalls).toBeGreaterThan(10);
    expect(leaks).toEqual([]);
  });
});
