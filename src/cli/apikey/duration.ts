/** `--expires DURATION`: a whole number of seconds, or of minutes, hours or days (`90m`, `12h`, `30d`). */
import { AgentError } from "../../errors.ts";

const UNITS: Readonly<Record<string, number>> = { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 };
/** Longest lifetime: ten years. */
export const MAX_DURATION_SECONDS = 3_650 * 86_400;

/** Seconds in `text`; a usage error naming `option` for anything else (zero, signs, fractions, spaces). */
export function parseDuration(text: string, option = "--expires"): number {
  const m = /^([0-9]{1,12})([smhd]?)$/.exec(text);
  const seconds = m === null ? NaN : Number(m[1]) * UNITS[m[2]!]!;
  if (!(seconds >= 1 && seconds <= MAX_DURATION_SECONDS)) {
    throw new AgentError(
      "ERR_USAGE",
      `${option} must be a duration from 1 second to 3650 days: seconds, or a number with s, m, h or d ` +
        `(30d, 12h, 90m) (got ${JSON.stringify(text.slice(0, 40))})`,
    );
  }
  return seconds;
}
