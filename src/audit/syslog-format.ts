/**
 * One audit event as an RFC 5424 syslog message, and its RFC 6587 octet-counting frame for TCP and TLS:
 *
 *   <PRI>1 TIMESTAMP HOSTNAME agent PROCID decision [agent@32473 decision="ID" allowed="true" ...] {JSON}
 *
 * MSG is the event as one JSON line with every non-ASCII character escaped (\uXXXX), so it is plain ASCII:
 * no BOM is needed and no newline can end up inside it. The structured data repeats a few key fields for
 * collectors that index SD-PARAMs; MSG stays the exact record.
 */
import type { AuditEvent } from "./event.ts";

/** The facilities an audit stream may use (kern, mail, news and the like are not ours to claim). */
export const SYSLOG_FACILITIES = {
  user: 1,
  daemon: 3,
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

/**
 * authpriv: these are authorization decisions naming users, which is what authpriv is for. Debian's rsyslog
 * files it in /var/log/auth.log like auth; RHEL's keeps it out of the world-readable /var/log/messages
 * (authpriv goes to /var/log/secure, 0600), where auth would land.
 */
export const DEFAULT_SYSLOG_FACILITY: SyslogFacility = "authpriv";

export const SEVERITY = { err: 3, warning: 4, info: 6 } as const;

/** RFC 5612's enterprise number for documentation: an SD-ID with "@" needs a number, and we hold none. */
export const SD_ID = "agent@32473";
export const APP_NAME = "agent";
export const MSG_ID = "decision";
export const DROPPED_MSG_ID = "dropped";

/**
 * The largest message sent (frame prefix excluded). rsyslog's default maxMessageSize is 8k and counts the
 * whole message; RFC 5425 receivers must take 2048 and should take 8192 octets. An event over it is
 * shortened (long strings cut, marked `"truncated":true`), never cut mid-JSON.
 */
export const MAX_MESSAGE_OCTETS = 8000;
/** Each SD-PARAM value, escaped; the JSON in MSG has the whole value (up to MAX_MESSAGE_OCTETS). */
const MAX_SD_VALUE_OCTETS = 200;
const MAX_HOSTNAME = 255;
const NIL = "-";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$/;
const PRINTUSASCII = /^[\x21-\x7e]+$/;

export interface SyslogHeader {
  readonly facility: SyslogFacility;
  /** The node's name: printable US-ASCII, at most 255 characters; anything else is sent as "-". */
  readonly hostname: string;
  readonly pid: number;
}

/** err for the agent's own failures, warning for a denial, info for an allowed call. */
export function severityOf(event: AuditEvent): number {
  const code = event.code ?? "";
  const failed = (event.status !== null && event.status >= 500) ||
    /^ERR_(?:INTERNAL|STATE_|DOCKER_|POLICY_MISSING)/.test(code);
  if (failed) return SEVERITY.err;
  return event.allow ? SEVERITY.info : SEVERITY.warning;
}

/** The HOSTNAME field: the name as given when RFC 5424 allows it, else the NILVALUE. */
export function syslogHostname(name: string): string {
  return name.length <= MAX_HOSTNAME && PRINTUSASCII.test(name) ? name : NIL;
}

/** One event as an RFC 5424 message (no framing, no trailing newline). */
export function formatSyslogMessage(event: AuditEvent, header: SyslogHeader): string {
  const timestamp = TIMESTAMP.test(event.time) ? event.time : NIL;
  const head = `${prefix(header, severityOf(event), timestamp, MSG_ID)} ${structuredData(event)} `;
  return head + fittedJson(event, MAX_MESSAGE_OCTETS - utf8Length(head));
}

/**
 * The message telling the collector that `count` events were dropped (its queue overflowed while the
 * collector was unreachable). TIMESTAMP is "-": the core has no clock, and the collector's time of receipt
 * is the honest one.
 */
export function formatDroppedNotice(count: number, header: SyslogHeader): string {
  const head = prefix(header, SEVERITY.warning, NIL, DROPPED_MSG_ID);
  return `${head} [${SD_ID} dropped="${count}"] ${asciiJson({ dropped: count })}`;
}

/** PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID */
function prefix(header: SyslogHeader, severity: number, timestamp: string, msgId: string): string {
  const pri = SYSLOG_FACILITIES[header.facility] * 8 + severity;
  const procId = Number.isSafeInteger(header.pid) && header.pid >= 0 ? String(header.pid) : NIL;
  return `<${pri}>1 ${timestamp} ${syslogHostname(header.hostname)} ${APP_NAME} ${procId} ${msgId}`;
}

/** RFC 6587 octet counting: `LEN SP MSG`, LEN the message's length in octets. */
export function octetFrame(message: string): Uint8Array {
  const body = encoder.encode(message);
  const prefix = encoder.encode(`${body.length} `);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

const encoder = new TextEncoder();

function structuredData(event: AuditEvent): string {
  const params: [string, string | null | undefined][] = [
    ["decision", event.decisionId],
    ["phase", event.phase],
    ["allowed", String(event.allow)],
    ["decidedby", event.decidedBy],
    ["user", event.user],
    ["action", event.action],
    ["rule", event.ruleId],
    ["code", event.code],
    ["door", event.door],
    ["client", event.clientAddress],
  ];
  let sd = `[${SD_ID}`;
  for (const [name, value] of params) {
    if (value !== null && value !== undefined) sd += ` ${name}="${sdParamValue(value)}"`;
  }
  return `${sd}]`;
}

/**
 * RFC 5424 PARAM-VALUE: `"`, `\` and `]` escaped with a backslash. Control characters (which would break
 * line-based collectors and files) become the six characters \uXXXX, lone surrogates U+FFFD, and the value
 * is cut, whole characters only, at MAX_SD_VALUE_OCTETS with "..." appended.
 */
export function sdParamValue(value: string): string {
  let out = "";
  let octets = 0;
  for (const ch of value) {
    const piece = sdChar(ch);
    const size = utf8Length(piece);
    if (octets + size > MAX_SD_VALUE_OCTETS) return `${out}...`;
    out += piece;
    octets += size;
  }
  return out;
}

function sdChar(ch: string): string {
  if (ch === '"' || ch === "\\" || ch === "]") return `\\${ch}`;
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029) return unicodeEscape(cp);
  if (cp >= 0xd800 && cp <= 0xdfff) return "\ufffd";
  return ch;
}

function unicodeEscape(unit: number): string {
  return `\\u${unit.toString(16).padStart(4, "0")}`;
}

/** JSON with every non-ASCII UTF-16 unit escaped: valid JSON, plain ASCII, one line. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => unicodeEscape(c.charCodeAt(0)));
}

/** Cut limits tried in turn for an event too large for one message. */
const SHORTEN_STEPS = [1024, 256, 64];

/** The event's JSON within `budget` octets: long strings are shortened step by step, then only the ids kept. */
function fittedJson(event: AuditEvent, budget: number): string {
  const whole = asciiJson(event);
  if (whole.length <= budget) return whole;
  for (const limit of SHORTEN_STEPS) {
    const json = asciiJson({ ...shortened(event, limit), truncated: true });
    if (json.length <= budget) return json;
  }
  // Thousands of resources, say: what identifies the decision still fits.
  return asciiJson({
    time: event.time,
    decisionId: event.decisionId,
    phase: event.phase,
    allow: event.allow,
    decidedBy: shorten(event.decidedBy, 64),
    code: event.code === null ? null : shorten(event.code, 64),
    truncated: true,
  });
}

function shortened(event: AuditEvent, limit: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (typeof value === "string") out[key] = shorten(value, limit);
    else if (key === "resources" && typeof value === "object" && value !== null) {
      const resources: Record<string, string> = {};
      for (const [name, v] of Object.entries(value as Record<string, string>)) {
        resources[shorten(name, limit)] = shorten(String(v), limit);
      }
      out[key] = resources;
    } else out[key] = value;
  }
  return out;
}

/** At most `limit` characters (whole code points), "..." marking a cut. */
function shorten(text: string, limit: number): string {
  if (text.length <= limit) return text;
  return `${Array.from(text.slice(0, limit + 1)).slice(0, limit).join("")}...`;
}

function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}
