import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../../src/audit/event.ts";
import { sampleAuditEvent } from "../../helpers/audit-event.ts";
import { openSyslogShipping } from "../../../src/audit/syslog-sink.ts";
import type { SyslogConnectionOptions, SyslogTarget } from "../../../src/ports.ts";

const event = (decisionId: string): AuditEvent =>
  sampleAuditEvent({
    time: "2026-11-23T10:00:00.000Z",
    decisionId,
    allow: false,
    decidedBy: "policy",
    ruleId: null,
    reason: "no rule allows it",
  });

function fakePlatform(sendThrows = false) {
  const frames: string[] = [];
  const calls: { target?: SyslogTarget; options?: SyslogConnectionOptions; closes: number[] } = {
    closes: [],
  };
  const platform = {
    pid: 77,
    connectSyslog(target: SyslogTarget, options: SyslogConnectionOptions) {
      calls.target = target;
      calls.options = options;
      return {
        send(frame: Uint8Array) {
          if (sendThrows) throw new Error("boom");
          frames.push(new TextDecoder().decode(frame));
        },
        close(timeoutMs: number) {
          calls.closes.push(timeoutMs);
          return Promise.resolve();
        },
      };
    },
  };
  return { platform, frames, calls };
}

const plan = {
  target: { transport: "tcp" as const, host: "127.0.0.1", port: 514 },
  facility: "local0" as const,
};

describe("syslog shipping", () => {
  test("each event becomes one octet-counted RFC 5424 frame with the node's name and pid", async () => {
    const { platform, frames, calls } = fakePlatform();
    const errors: string[] = [];
    const shipping = openSyslogShipping(platform, plan, {
      hostname: "hosta",
      onError: (m) => errors.push(m),
    });
    shipping.write(event("000000000001"));
    shipping.write(event("000000000002"));
    expect(calls.target).toEqual(plan.target);
    expect(calls.options?.maxQueued).toBe(10_000);
    expect(frames).toHaveLength(2);
    const [len, rest] = [
      frames[0]!.slice(0, frames[0]!.indexOf(" ")),
      frames[0]!.slice(frames[0]!.indexOf(" ") + 1),
    ];
    expect(Number(len)).toBe(new TextEncoder().encode(rest).length);
    expect(rest).toStartWith(
      `<${16 * 8 + 4}>1 2026-11-23T10:00:00.000Z hosta agent 77 decision [agent@32473 `,
    );
    expect(rest).toContain('decision="000000000001"');
    const notice = new TextDecoder().decode(calls.options!.droppedNotice!(3));
    expect(notice).toMatch(
      /^\d+ <132>1 - hosta agent 77 dropped \[agent@32473 dropped="3"\] \{"dropped":3\}$/,
    );
    await shipping.stop();
    await shipping.stop();
    expect(calls.closes).toEqual([5_000]);
    shipping.write(event("000000000003"));
    expect(frames).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  test("a failure below write() never reaches the caller; said once", () => {
    const { platform } = fakePlatform(true);
    const errors: string[] = [];
    const shipping = openSyslogShipping(platform, plan, { hostname: "h", onError: (m) => errors.push(m) });
    expect(() => {
      shipping.write(event("000000000001"));
      shipping.write(event("000000000002"));
    }).not.toThrow();
    expect(errors).toEqual(["an audit event could not be queued for syslog"]);
  });
});
