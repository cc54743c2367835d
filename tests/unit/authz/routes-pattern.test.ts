import { describe, expect, test } from "bun:test";
import { compilePattern } from "../../../src/authz/routes-pattern.ts";
import { AgentError } from "../../../src/errors.ts";

function refusal(template: string): AgentError {
  try {
    compilePattern(template);
  } catch (error) {
    if (error instanceof AgentError) return error;
    throw error;
  }
  throw new Error(`${template} compiled`);
}

describe("compilePattern", () => {
  test("splits a template into its first and last literal segments", () => {
    const pattern = compilePattern("/containers/{name:.*}/attach/ws");
    expect(pattern.firstSegment).toBe("containers");
    expect(pattern.lastSegment).toBe("ws");
    expect(pattern.paramNames).toEqual(["name"]);
  });

  test("gives a template ending in a parameter no last segment", () => {
    expect(compilePattern("/images/{name:.*}").lastSegment).toBeUndefined();
  });

  test("keeps a registered trailing slash as an empty last segment", () => {
    const pattern = compilePattern("/networks/");
    expect(pattern.lastSegment).toBe("");
    expect(pattern.match("/networks/")).toEqual([]);
    expect(pattern.match("/networks")).toBeUndefined();
  });

  test("matches a '.*' parameter across slashes and a bare parameter within one segment", () => {
    expect(compilePattern("/images/{name:.*}/json").match("/images/a/b:1/json")).toEqual(["a/b:1"]);
    expect(compilePattern("/services/{id}").match("/services/a/b")).toBeUndefined();
    expect(compilePattern("/containers/{name}/checkpoints/{checkpoint}").match("/containers/c/checkpoints/k"))
      .toEqual(["c", "k"]);
    expect(compilePattern("/containers/{name}/checkpoints/{checkpoint}").match("/containers/c/checkpoints/"))
      .toBeUndefined();
  });

  test("refuses a parameter that ends in an empty segment", () => {
    expect(compilePattern("/images/{name:.*}").match("/images/a/")).toBeUndefined();
    expect(compilePattern("/images/{name:.*}").match("/images/")).toBeUndefined();
  });

  test("matches any path, the root included, with a catch-all template", () => {
    const pattern = compilePattern("/{anyroute:.*}");
    expect(pattern.firstSegment).toBeUndefined();
    expect(pattern.match("/")).toEqual([""]);
    expect(pattern.match("/a/b")).toEqual(["a/b"]);
  });

  for (
    const [template, why] of [
      ["/images/{name:[a-z]+}", "an unsupported parameter expression"],
      ["/images/{name", "an unclosed parameter"],
      ["/images/{}", "an unnamed parameter"],
      ["images/json", "no leading slash"],
      ["/images/x{name}", "a parameter that does not start a segment"],
      ["/images/{name}x", "a parameter that does not end a segment"],
      ["/a/{x:.*}/b/{y}", "a '.*' parameter before another parameter"],
      ["/{x}/json", "a parameter in the first segment"],
    ]
  ) {
    test(`refuses a template with ${why}`, () => {
      const error = refusal(template as string);
      expect(error.code).toBe("ERR_INTERNAL");
      expect(error.message).toBe("route table is invalid");
    });
  }
});
