import { sampleAuditEvent } from "../../helpers/audit-event.ts";
import { describe, expect, test } from "bun:test";
import {
  formatDroppedNotice,
  formatSyslogMessage,
  MAX_MESSAGE_OCTETS,
  octetFrame,
  sdParamValue,
  severityOf,
  syslogHostname,
} from "../../../src/audit/syslog-format.ts";

const event = sampleAuditEvent;

const header = { facility: "authpriv" as const, hostname: "hosta", pid: 4242 };

interface Parsed {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  app: string;
  procid: string;
  msgid: string;
  sdId: string;
  params: Record<string, string>;
  msg: string;
}

/** A strict RFC 5424 reader for what we send: one SD-ELEMENT, escapes undone, MSG the rest. */
function parse(message: string): Parsed {
  const head = /^<(\d{1,3})>(1) (\S+) (\S+) (\S+) (\S+) (\S+) \[/.exec(message);
  if (head === null) throw new Error(`not RFC 5424: ${message.slice(0, 80)}`);
  let i = head[0].length;
  const sdId = /^[^ \]="]+/.exec(message.slice(i))![0];
  i += sdId.length;
  const params: Record<string, string> = {};
  while (message[i] === " ") {
    const name = /^ ([^ \]="]{1,32})="/.exec(message.slice(i));
    if (name === null) throw new Error(`bad SD-PARAM at ${i}`);
    i += name[0].length;
    let value = "";
    for (;;) {
      const c = message[i++];
      if (c === undefined) throw new Error("unterminated PARAM-VALUE");
      if (c === '"') break;
      if (c === "]") throw new Error("unescaped ] in PARAM-VALUE");
      if (c === "\\" && ['"', "\\", "]"].includes(message[i] ?? "")) value += message[i++];
      else value += c;
    }
    params[name[1]!] = value;
  }
  if (message[i] !== "]" || message[i + 1] !== " ") throw new Error(`SD not closed at ${i}`);
  return {
    pri: Number(head[1]),
    version: head[2]!,
    timestamp: head[3]!,
    hostname: head[4]!,
    app: head[5]!,
    procid: head[6]!,
    msgid: head[7]!,
    sdId,
    params,
    msg: message.slice(i + 2),
  };
}

const octets = (text: string) => new TextEncoder().encode(text).length;

describe("syslog format", () => {
  test("an allowed call: authpriv.info, the node's name, agent, the pid, decision, key fields, JSON", () => {
    const e = event();
    const p = parse(formatSyslogMessage(e, header));
    expect(p).toMatchObject({
      pri: 10 * 8 + 6,
      version: "1",
      timestamp: "2026-11-23T10:00:00.123Z",
      hostname: "hosta",
      app: "agent",
      procid: "4242",
      msgid: "decision",
      sdId: "agent@32473",
    });
    expect(p.params).toEqual({
      decision: "0a1b2c3d4e5f",
      phase: "request",
      allowed: "true",
      decidedby: "all-gates",
      user: "bob",
      action: "container:list",
      rule: "bob-reads",
    });
    expect(JSON.parse(p.msg)).toEqual(e);
  });

  test("severity: denied is warning, the agent's own failures err; the facility is configurable", () => {
    expect(severityOf(event({ allow: false, reason: "no rule" }))).toBe(4);
    expect(severityOf(event({ allow: false, code: "ERR_REQUEST_JSON" }))).toBe(4);
    expect(severityOf(event({ allow: false, code: "ERR_INTERNAL" }))).toBe(3);
    expect(severityOf(event({ allow: false, code: "ERR_DOCKER_RESPONSE" }))).toBe(3);
    expect(severityOf(event({ allow: true, status: 502 }))).toBe(3);
    const p = parse(formatSyslogMessage(event({ allow: false }), { ...header, facility: "local3" }));
    expect(p.pri).toBe(19 * 8 + 4);
    expect(p.params["allowed"]).toBe("false");
  });

  test("hostile values: newlines, quotes, backslashes, ] and non-ASCII stay inside their fields", () => {
    const user = 'eve"] [x@1 allowed="true"]\\\n<14>1 fake\u2028\u00e9\u{1f600}\ud800';
    const e = event({ user, uri: "/v1.41/x?a=\r\n\u0000", reason: "a\nb", resources: { "k\n]": 'v"\\' } });
    const message = formatSyslogMessage(e, header);
    for (const c of ["\r", "\n", "\u0000", "\u2028"]) expect(message).not.toContain(c);
    const p = parse(message);
    expect(Object.keys(p.params)).toEqual(
      ["decision", "phase", "allowed", "decidedby", "user", "action", "rule"],
    );
    expect(p.params["allowed"]).toBe("true");
    expect(p.params["user"]).toBe(
      'eve"] [x@1 allowed="true"]\\\\u000a<14>1 fake\\u2028\u00e9\u{1f600}\ufffd',
    );
    // MSG is plain ASCII JSON (no BOM needed) and gives back the exact event.
    expect(p.msg).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(p.msg)).toEqual(e);
  });

  test("a huge user name: SD value cut, message within the limit, JSON still whole and marked", () => {
    const user = "\u00e9".repeat(50_000) + "tail";
    const message = formatSyslogMessage(event({ user, uri: `/x?${"q".repeat(20_000)}` }), header);
    expect(octets(message)).toBeLessThanOrEqual(MAX_MESSAGE_OCTETS);
    const p = parse(message);
    expect(p.params["user"]!.endsWith("...")).toBe(true);
    expect(octets(p.params["user"]!)).toBeLessThanOrEqual(203);
    const json = JSON.parse(p.msg) as Record<string, unknown>;
    expect(json["truncated"]).toBe(true);
    expect(json["decisionId"]).toBe("0a1b2c3d4e5f");
    expect((json["user"] as string).startsWith("\u00e9\u00e9")).toBe(true);
    expect((json["user"] as string).endsWith("...")).toBe(true);
  });

  test("thousands of resources: only what identifies the decision is kept", () => {
    const resources: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) resources[`r${i}`] = `value-${i}`;
    const message = formatSyslogMessage(event({ resources }), header);
    expect(octets(message)).toBeLessThanOrEqual(MAX_MESSAGE_OCTETS);
    expect(JSON.parse(parse(message).msg)).toEqual({
      time: "2026-11-23T10:00:00.123Z",
      decisionId: "0a1b2c3d4e5f",
      phase: "request",
      allow: true,
      decidedBy: "all-gates",
      code: null,
      truncated: true,
    });
  });

  test("HOSTNAME: printable US-ASCII up to 255, else the NILVALUE; a bad timestamp is the NILVALUE", () => {
    expect(syslogHostname("node-1.example")).toBe("node-1.example");
    for (const bad of ["", "has space", "h\u00e9", "a\nb", "x".repeat(256)]) {
      expect(syslogHostname(bad)).toBe("-");
    }
    expect(syslogHostname("x".repeat(255))).toBe("x".repeat(255));
    const p = parse(formatSyslogMessage(event({ time: "yesterday" }), { ...header, hostname: "bad host" }));
    expect(p.timestamp).toBe("-");
    expect(p.hostname).toBe("-");
  });

  test("SD-PARAM escaping", () => {
    expect(sdParamValue('a"b\\c]d')).toBe('a\\"b\\\\c\\]d');
    expect(sdParamValue("tab\there\u007f")).toBe("tab\\u0009here\\u007f");
    expect(sdParamValue("x".repeat(300))).toBe(`${"x".repeat(200)}...`);
    // Never half a character or half an escape at the cut.
    expect(sdParamValue(`${"x".repeat(198)}"`)).toBe(`${"x".repeat(198)}\\"`);
    expect(sdParamValue(`${"x".repeat(199)}"`)).toBe(`${"x".repeat(199)}...`);
    expect(sdParamValue(`${"x".repeat(198)}\u{1f600}`)).toBe(`${"x".repeat(198)}...`);
  });

  test("octet-counting frame: the length in octets, a space, the message", () => {
    const frame = octetFrame("<86>1 - h agent 1 decision - \u00e9");
    const text = new TextDecoder().decode(frame);
    expect(text).toBe("31 <86>1 - h agent 1 decision - \u00e9");
    expect(frame.length).toBe(3 + 31);
  });

  test("the dropped notice tells the collector how many were lost", () => {
    const p = parse(formatDroppedNotice(17, header));
    expect(p).toMatchObject({ pri: 84, timestamp: "-", hostname: "hosta", msgid: "dropped" });
    expect(p.params).toEqual({ dropped: "17" });
    expect(JSON.parse(p.msg)).toEqual({ dropped: 17 });
  });
});
