/**
 * The audit log shipped to a syslog collector, beside the local file (sink.ts): every event as one RFC 5424
 * message over TCP or TLS. write() formats and queues, nothing more: it never waits, never throws, and a
 * collector that is down or slow costs the caller nothing (the connection queues, bounded, and reconnects).
 */
import type { Platform } from "../ports.ts";
import type { AuditEvent } from "./event.ts";
import type { SyslogPlan } from "./syslog-options.ts";
import { formatDroppedNotice, formatSyslogMessage, octetFrame, type SyslogHeader } from "./syslog-format.ts";

export interface SyslogShipping {
  write(event: AuditEvent): void;
  /** Sends what is queued (waiting at most the stop timeout for the collector), then closes. Never rejects. */
  stop(): Promise<void>;
}

export interface SyslogShippingOptions {
  /** This node's name: the HOSTNAME of every message (sent as "-" unless printable ASCII, at most 255). */
  readonly hostname: string;
  /** Problems (at most once a minute) and recoveries; never an event's contents. */
  readonly onError: (message: string) => void;
  /** Messages kept while the collector is unreachable (default 10,000); past it the oldest are dropped. */
  readonly maxQueued?: number;
  /** How long stop() waits for the queue to reach the collector (default 5 s). */
  readonly stopTimeoutMs?: number;
}

export const DEFAULT_SYSLOG_QUEUE = 10_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;

export function openSyslogShipping(
  platform: Pick<Platform, "connectSyslog" | "pid">,
  plan: SyslogPlan,
  options: SyslogShippingOptions,
): SyslogShipping {
  const header: SyslogHeader = { facility: plan.facility, hostname: options.hostname, pid: platform.pid };
  const connection = platform.connectSyslog(plan.target, {
    maxQueued: options.maxQueued ?? DEFAULT_SYSLOG_QUEUE,
    onError: options.onError,
    droppedNotice: (count) => octetFrame(formatDroppedNotice(count, header)),
  });
  let stopped: Promise<void> | undefined;
  let failedFormat = false;
  return {
    write(event) {
      if (stopped !== undefined) return;
      try {
        connection.send(octetFrame(formatSyslogMessage(event, header)));
      } catch {
        // Never into the decision path; said once (the event itself stays in the local audit log).
        if (!failedFormat) options.onError("an audit event could not be queued for syslog");
        failedFormat = true;
      }
    },
    stop() {
      stopped ??= connection.close(options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS).catch(() => {});
      return stopped;
    },
  };
}
