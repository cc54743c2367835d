import { describe, expect, test } from "bun:test";
import { decodeJsonBody } from "../../../src/authz/body.ts";
import { hasDuplicateKeys } from "../../../src/authz/duplicate-keys.ts";
import { parseAuthzRequest } from "../../../src/authz/wire.ts";
import { AgentError } from "../../../src/errors.ts";

const b64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
const create = (body: string) =>
  parseAuthzRequest(
    JSON.stringify({ RequestMethod: "POST", RequestUri: "/v1.41/containers/create", RequestBody: b64(body) }),
    "request",
  );

describe("duplicate JSON keys in request bodies", () => {
  test("refuses a create whose repeated HostConfig would merge into a privileged one in dockerd", () => {
    // Found by tests/e2e/bypass.e2e.test.ts: dockerd 20.10 created this container privileged.
    const body = '{"Image":"tiny","HostConfig":{"Privileged":true},"HostConfig":{"NetworkMode":"none"}}';
    let caught: unknown;
    try {
      decodeJsonBody(create(body));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AgentError);
    expect((caught as AgentError).code).toBe("ERR_REQUEST_JSON");
    expect((caught as AgentError).message).toBe("request body repeats a JSON key");
  });

  test("refuses a repeated key whose later value is null (Go keeps the earlier value)", () => {
    expect(hasDuplicateKeys('{"HostConfig":{"Privileged":true,"Privileged":null}}')).toBe(true);
  });

  test("sees through escapes: \\u0065 spells the same key as e", () => {
    expect(hasDuplicateKeys('{"Privileged":true,"Privil\\u0065ged":false}')).toBe(true);
  });

  test("finds repeats deep inside arrays of objects", () => {
    expect(hasDuplicateKeys('{"Mounts":[{"Type":"volume"},{"Type":"bind","Source":"/","Source":"/x"}]}'))
      .toBe(
        true,
      );
  });

  test("accepts the same key in sibling and nested objects, and keys spelled in other cases", () => {
    expect(hasDuplicateKeys('{"a":{"a":1},"b":{"a":2},"c":[{"a":1},{"a":2}]}')).toBe(false);
    expect(hasDuplicateKeys('{"HostConfig":{"Privileged":true},"hostconfig":{}}')).toBe(false);
  });

  test("is not fooled by quotes, colons and braces inside strings", () => {
    expect(hasDuplicateKeys('{"a":"x\\":{\\"a\\":","b":"}{","c":["a",":"]}')).toBe(false);
    expect(hasDuplicateKeys('{"a\\"":1,"a\\"" :2}')).toBe(true);
    expect(hasDuplicateKeys('{ "a" : 1 ,\n "a"\t: 2 }')).toBe(true);
  });

  test("an ordinary docker run body still decodes", () => {
    const body = JSON.stringify({
      Image: "tiny",
      Cmd: ["sh", "-c", 'echo "{a:1}"'],
      HostConfig: { Binds: [] },
    });
    expect(decodeJsonBody(create(body))).toEqual(JSON.parse(body));
  });
});
