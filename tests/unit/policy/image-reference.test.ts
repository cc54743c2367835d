import { describe, expect, test } from "bun:test";
import { imageForms } from "../../../src/policy/image-reference.ts";

describe("image reference forms", () => {
  test("a bare official image has its familiar and full spellings, with and without the default tag", () => {
    expect([...imageForms("alpine")].sort()).toEqual(
      ["alpine", "alpine:latest", "docker.io/library/alpine", "docker.io/library/alpine:latest"].sort(),
    );
  });

  test("a fully qualified Docker Hub name gets its familiar spelling", () => {
    expect(imageForms("docker.io/library/alpine:3.19")).toContain("alpine:3.19");
    expect(imageForms("index.docker.io/bob/app")).toContain("bob/app:latest");
  });

  test("a private registry name keeps its host and port", () => {
    const forms = imageForms("registry.local:5000/team/app:1.0");
    expect(forms).toContain("registry.local:5000/team/app");
    expect(forms).toContain("registry.local:5000/team/app:1.0");
    expect(forms.some((f) => f.startsWith("docker.io/"))).toBe(false);
  });

  test("a digest reference keeps the digest and gets no default tag", () => {
    const forms = imageForms("alpine@sha256:abcd");
    expect(forms).toContain("alpine@sha256:abcd");
    expect(forms).toContain("alpine");
    expect(forms).not.toContain("alpine:latest");
  });

  test("image ids are matched only as written", () => {
    expect(imageForms("sha256:0123456789ab")).toEqual(["sha256:0123456789ab"]);
    expect(imageForms("0123456789ab")).toEqual(["0123456789ab"]);
  });
});
