/** Writes a macaroon: V2 binary as unpadded base64url by default; JSON formats as JSON text. */
import { base64UrlEncode } from "../base64.ts";
import { formatError } from "../failures.ts";
import type { Macaroon, MacaroonFormat } from "../types.ts";
import { encodeV1Binary } from "./v1-binary.ts";
import { encodeV1Json } from "./v1-json.ts";
import { encodeV2Binary } from "./v2-binary.ts";
import { encodeV2Json } from "./v2-json.ts";

/**
 * "v2" and "v1": unpadded base64url of the binary form. "v2j" and "v1j": the JSON text itself (decoders also
 * accept it wrapped in base64). V1 JSON can only carry text identifiers (ERR_MACAROON_FORMAT otherwise).
 */
export function encodeMacaroon(m: Macaroon, format: MacaroonFormat = "v2"): string {
  switch (format) {
    case "v2":
      return base64UrlEncode(encodeV2Binary(m));
    case "v1":
      return base64UrlEncode(encodeV1Binary(m));
    case "v2j":
      return encodeV2Json(m);
    case "v1j":
      return encodeV1Json(m);
    default:
      throw formatError("unknown macaroon format");
  }
}
