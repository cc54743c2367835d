/**
 * The path of a request URL without `new URL()`: dockerd 20.10 sends an empty Host header, so Bun hands
 * over a relative URL (`/AuthZPlugin.AuthZReq`) that the URL constructor and Hono's default parser reject.
 */
export function pathOf(url: string): string {
  let start = 0;
  if (url.charCodeAt(0) !== 0x2f /* "/" */) {
    const scheme = url.indexOf("://");
    start = scheme < 0 ? 0 : url.indexOf("/", scheme + 3);
    if (start < 0) return "/";
  }
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}
