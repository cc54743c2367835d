/**
 * Docker Cloud's dates: RFC 1123 in UTC with a numeric zone, `Mon, 13 Oct 2014 11:01:43 +0000`, which its CLI
 * reads with `strptime("%a, %d %b %Y %H:%M:%S +0000")`. The agent keeps ISO 8601 internally and in its
 * files; responses carry this form. Filters (`start_date__gte=`) accept either.
 */
export function cloudDate(iso: string | null): string | null {
  if (iso === null) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date.toUTCString().replace(/ GMT$/, " +0000");
}

/** A filter's date (RFC 1123 or ISO 8601) as milliseconds, or undefined when it is not a date. */
export function filterDate(text: string): number | undefined {
  if (text.length > 64) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
