import { describe, expect, test } from "bun:test";
import { compileAncestorTest, compileGlob } from "../../../src/policy/glob.ts";

describe("globs", () => {
  test("plain: * spans any characters, including ':' and '/'", () => {
    const m = compileGlob("container:*", "plain", false);
    expect([m("container:create"), m("container:"), m("image:list"), m("xcontainer:create")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(compileGlob("*", "plain", false)("a/b:c")).toBe(true);
    expect(compileGlob("*:list", "plain", false)("image:list")).toBe(true);
  });

  test("regex characters in a pattern are literal", () => {
    const m = compileGlob("a.b+c", "plain", false);
    expect([m("a.b+c"), m("axb+c"), m("a.bbc")]).toEqual([true, false, false]);
    expect(compileGlob("(x)|[y]*", "plain", false)("(x)|[y]zz")).toBe(true);
  });

  test("reference: * stops at '/', ** does not", () => {
    const one = compileGlob("bob/*", "reference", false);
    const all = compileGlob("bob/**", "reference", false);
    expect([one("bob/app:1"), one("bob/team/app"), all("bob/team/app")]).toEqual([true, false, true]);
    expect(compileGlob("alpine*", "reference", false)("alpine:3.19")).toBe(true);
    expect(compileGlob("a?c", "reference", false)("a/c")).toBe(false);
  });

  test("path: a final /** also matches the directory itself, not its siblings", () => {
    const m = compileGlob("/etc/**", "path", false);
    expect([m("/etc"), m("/etc/passwd"), m("/etc/ssh/sshd_config"), m("/etcetera"), m("/")]).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    const mid = compileGlob("/home/**/.ssh", "path", false);
    expect([mid("/home/.ssh"), mid("/home/bob/.ssh"), mid("/home/bob/x/.ssh"), mid("/home/bob")]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  test("ignoreCase compares case-insensitively (deny rules)", () => {
    expect(compileGlob("/var/run/docker.sock", "path", true)("/VAR/run/Docker.sock")).toBe(true);
    expect(compileGlob("/var/run/docker.sock", "path", false)("/VAR/run/Docker.sock")).toBe(false);
    expect(compileGlob("host*", "plain", true)("HOSTILE")).toBe(true);
  });

  test("ancestor test: parents of what a pattern matches", () => {
    const sock = compileAncestorTest("/var/run/docker.sock", false);
    expect([
      sock("/"),
      sock("/var"),
      sock("/var/run"),
      sock("/var/run/docker.sock"),
      sock("/var/lib"),
      sock("/run"),
    ])
      .toEqual([true, true, true, false, false, false]);
    const etc = compileAncestorTest("/etc/**", false);
    expect([etc("/"), etc("/etc"), etc("/etc/ssh"), etc("/usr")]).toEqual([true, true, true, false]);
    const wild = compileAncestorTest("/home/*/.ssh", false);
    expect([wild("/home"), wild("/home/bob"), wild("/home/bob/.ssh"), wild("/srv")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});
