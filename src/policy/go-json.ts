/**
 * dockerd decodes request bodies with Go's encoding/json, which matches object keys to struct fields
 * case-insensitively: `{"hostconfig":{"privileged":true}}` creates a privileged container. These helpers
 * find every key Go would accept for a field, so a condition sees all of them.
 */

/**
 * Go folds each rune with ToUpper(ToLower(r)) (older releases used simple case folding). Besides ASCII, the
 * runes that fold onto ASCII letters are: U+017F long s -> S, U+212A Kelvin sign -> K, U+0130 and U+0131
 * (dotted and dotless i) -> I. Other non-ASCII runes can never equal an ASCII field name.
 */
function foldChar(code: number): number {
  if (code >= 0x61 && code <= 0x7a) return code - 0x20;
  switch (code) {
    case 0x017f:
      return 0x53;
    case 0x212a:
      return 0x4b;
    case 0x0130:
    case 0x0131:
      return 0x49;
    default:
      return code;
  }
}

/** Does `key` name the field whose upper-case ASCII name is `field`, the way Go decodes it? */
export function foldsTo(key: string, field: string): boolean {
  if (key.length !== field.length) return false;
  for (let i = 0; i < key.length; i++) {
    if (foldChar(key.charCodeAt(i)) !== field.charCodeAt(i)) return false;
  }
  return true;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Values of every key that Go would decode into `field` (upper-case ASCII). JSON null is left out: Go
 * treats it as "absent" for every field type.
 */
export function fieldValues(object: Record<string, unknown>, field: string): unknown[] {
  const out: unknown[] = [];
  for (const key in object) {
    if (!Object.hasOwn(object, key) || !foldsTo(key, field)) continue;
    const value = object[key];
    if (value !== null) out.push(value);
  }
  return out;
}
