/**
 * Where each piece of state lives under the state directory (`/var/lib/agent` by default).
 * Every module reads its paths from here so that `agent doctor` and the tests agree with the code.
 */
import { joinPath } from "./path.ts";

export interface StateLayout {
  readonly root: string;
  /** Audit log (JSON Lines, rotated to audit.log.1, audit.log.2, ...). */
  readonly auditLog: string;
  /** Macaroon root keys (with key ids), 0600. */
  readonly macaroonKeys: string;
  /** Revoked macaroon nonces. */
  readonly macaroonRevocations: string;
  /** API keys of the HTTPS API: digests and owners, never the keys (src/apikey/file.ts), 0600. */
  readonly apiKeys: string;
  /** When each API key was last used, written in batches by the listener (src/apikey/last-used-file.ts). */
  readonly apiKeysUsed: string;
  /** Certificate authority directory. */
  readonly caDir: string;
  /** Written by a running `agent serve`: the socket it answers on, so commands can ask it (JSON). */
  readonly serving: string;
  /** The HTTPS listener's certificate issued by the CA (cert.pem, key.pem 0600, ca.pem): `serve --listen`. */
  readonly listenerDir: string;
  /** The HTTPS API's services: specs and desired states (0600, written atomically). */
  readonly services: string;
  /** The secret API roles' credentials are derived from (32 bytes, base64url), 0600 (api/role-credential.ts). */
  readonly roleSecret: string;
  /** The HTTPS API's action records, kept across restarts (0600, api/action-file.ts). */
  readonly actions: string;
  /** Fleet membership (src/fleet/): fleet.json, the etcd credential, the fleet key, the snapshot's record. */
  readonly fleetDir: string;
}

export function stateLayout(root: string): StateLayout {
  return {
    root,
    auditLog: joinPath(root, "audit.log"),
    macaroonKeys: joinPath(root, "macaroon", "keys.json"),
    macaroonRevocations: joinPath(root, "macaroon", "revoked.json"),
    apiKeys: joinPath(root, "apikeys.json"),
    apiKeysUsed: joinPath(root, "apikeys-used.json"),
    caDir: joinPath(root, "ca"),
    serving: joinPath(root, "serving.json"),
    listenerDir: joinPath(root, "listener"),
    services: joinPath(root, "services.json"),
    roleSecret: joinPath(root, "api-roles.key"),
    actions: joinPath(root, "actions.json"),
    fleetDir: joinPath(root, "fleet"),
  };
}

/** Mode for directories holding secrets. */
export const SECRET_DIR_MODE = 0o700;
/** Mode for secret files (keys). */
export const SECRET_FILE_MODE = 0o600;
/** Mode for public files (certificates, CRLs). */
export const PUBLIC_FILE_MODE = 0o644;
