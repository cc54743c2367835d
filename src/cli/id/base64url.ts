/**
 * Reading base64url salts and nonces from the command line (url alphabet only, padding optional).
 * Writing them uses the macaroon library's base64UrlEncode.
 */

/** undefined when `text` is not base64url (padding optional). */
export function base64UrlDecode(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  const std = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  try {
    return Uint8Array.from(atob(std + "=".repeat((4 - (std.length % 4)) % 4)), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
