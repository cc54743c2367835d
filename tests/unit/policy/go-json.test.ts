import { describe, expect, test } from "bun:test";
import { fieldValues, foldsTo } from "../../../src/policy/go-json.ts";

describe("Go-style key folding", () => {
  test("matches ASCII keys in any case", () => {
    expect(["Privileged", "privileged", "PRIVILEGED", "pRiViLeGeD"].every((k) => foldsTo(k, "PRIVILEGED")))
      .toBe(true);
  });

  test("folds the long s, the Kelvin sign and both Turkish i's like Go does", () => {
    expect(foldsTo("Ho\u017ftConfig", "HOSTCONFIG")).toBe(true);
    expect(foldsTo("Networ\u212aMode", "NETWORKMODE")).toBe(true);
    expect(foldsTo("Pr\u0131vileged", "PRIVILEGED")).toBe(true);
    expect(foldsTo("Pr\u0130vileged", "PRIVILEGED")).toBe(true);
  });

  test("does not fold other look-alikes", () => {
    expect(foldsTo("Pr\u00edvileged", "PRIVILEGED")).toBe(false); // i with acute
    expect(foldsTo("Privileged ", "PRIVILEGED")).toBe(false);
    expect(foldsTo("Privilege", "PRIVILEGED")).toBe(false);
  });

  test("fieldValues returns every colliding key's value and leaves out null", () => {
    const body = JSON.parse('{"Privileged":false,"privileged":true,"PRIVILEGED":null,"other":1}');
    expect(fieldValues(body, "PRIVILEGED")).toEqual([false, true]);
  });

  test("fieldValues ignores inherited properties and handles __proto__ as data", () => {
    const body = JSON.parse('{"__proto__":{"Privileged":true}}');
    expect(fieldValues(body, "PRIVILEGED")).toEqual([]);
    expect(fieldValues(body, "__PROTO__")).toEqual([{ Privileged: true }]);
  });
});
