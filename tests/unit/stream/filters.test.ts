/** Docker Cloud's subscriber filters, namespace visibility, and ?since= parsing. */
import { describe, expect, test } from "bun:test";
import type { StreamEvent } from "../../../src/stream/event.ts";
import {
  acceptsOf,
  isQueryError,
  matchesFilter,
  parseFilter,
  parseSince,
  parseStreamQuery,
  type StreamFilter,
  visibleTo,
} from "../../../src/stream/filters.ts";
import { containerEvent, SVC_A } from "./helpers.ts";

const q = (text: string) => new URLSearchParams(text);
const event = (namespace: string, extra: Partial<StreamEvent> = {}): StreamEvent => ({
  ...containerEvent(namespace),
  seq: 1,
  ...extra,
});
const filter = (text: string): StreamFilter => {
  const f = parseFilter(q(text));
  if (isQueryError(f)) throw new Error(f.error);
  return f;
};

describe("parseSince", () => {
  test("a whole number of at most 16 digits", () => {
    expect(parseSince("0")).toBe(0);
    expect(parseSince("42")).toBe(42);
    expect(parseSince("007")).toBe(7);
    expect(parseSince("1780000000000123")).toBe(1780000000000123);
  });

  test("anything else is an error naming since", () => {
    for (
      const text of [
        "",
        "abc",
        "-1",
        "1.5",
        " 1",
        "1 ",
        "+1",
        "1e3",
        "0x10",
        "99999999999999999",
        "9007199254740993",
      ]
    ) {
      const result = parseSince(text);
      expect(isQueryError(result) ? result.error : `accepted ${text}`).toContain("since");
    }
  });
});

describe("parseFilter", () => {
  test("type, object, parent/parents; comma lists and repeated parameters", () => {
    const f = filter(
      "type=container,service&type=action&object=/api/app/v1/alice/container/x&parents=/p/&parent=/q",
    );
    expect([...f.types!]).toEqual(["container", "service", "action"]);
    expect([...f.objects!]).toEqual(["/api/app/v1/alice/container/x/"]);
    expect([...f.parents!].sort()).toEqual(["/p/", "/q/"]);
    expect(filter("")).toEqual({});
    // Docker Cloud's other types are accepted (the agent sends none of them); blanks in lists are skipped.
    expect([...filter("type=stack,nodecluster,,").types!]).toEqual(["stack", "nodecluster"]);
  });

  test("unknown types, empty lists and oversized values are errors", () => {
    for (
      const text of [
        "type=containers",
        "type=",
        "type=,",
        "object=",
        `parent=${"x".repeat(600)}`,
        `type=${"container,".repeat(40)}`,
      ]
    ) {
      expect(isQueryError(parseFilter(q(text)))).toBe(true);
    }
    expect((parseFilter(q("type=bogus")) as { error: string }).error).toContain("bogus");
  });

  test("parseStreamQuery: filters and since together", () => {
    expect(parseStreamQuery(q("type=container&since=12"))).toMatchObject({ since: 12 });
    expect(parseStreamQuery(q("type=container"))).toMatchObject({ since: undefined });
    expect(isQueryError(parseStreamQuery(q("since=abc")))).toBe(true);
    expect(isQueryError(parseStreamQuery(q("since=-1")))).toBe(true);
    expect(isQueryError(parseStreamQuery(q("type=nope&since=1")))).toBe(true);
  });
});

describe("matching", () => {
  const e = event("alice");
  test("all filters must match; the values of one are alternatives", () => {
    expect(matchesFilter(filter(""), e)).toBe(true);
    expect(matchesFilter(filter("type=service,container"), e)).toBe(true);
    expect(matchesFilter(filter("type=service"), e)).toBe(false);
    expect(matchesFilter(filter(`object=${e.resource_uri}`), e)).toBe(true);
    expect(matchesFilter(filter(`parent=/api/app/v1/alice/service/${SVC_A}`), e)).toBe(true);
    expect(matchesFilter(filter(`parent=/api/app/v1/alice/service/${SVC_A}/&type=service`), e)).toBe(false);
    expect(matchesFilter(filter("parent=/api/app/v1/alice/service/other/"), e)).toBe(false);
  });

  test("a subscriber sees the namespaces it may address only", () => {
    const mine = (ns: string) => ns === "alice" || ns === "team";
    expect(visibleTo(event("alice"), mine)).toBe(true);
    expect(visibleTo(event("team"), mine)).toBe(true);
    expect(visibleTo(event("bob"), mine)).toBe(false);
    const accepts = acceptsOf(filter("type=container"), mine);
    expect([event("alice"), event("bob"), event("team", { type: "service" })].map(accepts)).toEqual([
      true,
      false,
      false,
    ]);
  });

  test("an event naming a parent of another namespace is never seen (even by one who may see both)", () => {
    const all = () => true;
    const leaky = event("alice", { parents: [`/api/app/v1/bob/service/${SVC_A}/`] });
    expect(visibleTo(leaky, all)).toBe(false);
    expect(acceptsOf({}, all)(leaky)).toBe(false);
    expect(visibleTo(event("alice", { parents: ["/api/audit/v1/action/x/"] }), all)).toBe(false);
    expect(visibleTo(event("alice", { parents: [] }), all)).toBe(true);
  });
});
