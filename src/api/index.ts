/**
 * The agent's HTTPS API (`agent serve --listen`): Docker Cloud's REST API on this host, decided by the same
 * decision core as the plugin. See app.ts for the steps of each request and authenticate.ts for the seam
 * credentials plug into.
 */
export { type ApiAppDeps, type ApiBindings, createApiApp } from "./app.ts";
export {
  authenticate,
  type Authentication,
  type AuthenticationResult,
  type Authenticator,
  NO_CREDENTIALS,
  type Principal,
} from "./authenticate.ts";
export { certificateAuthenticator, type CertificateAuthenticatorDeps } from "./certificate-authenticator.ts";
export { apiKeyAuthenticator, type ApiKeyAuthenticatorDeps } from "./apikey-authenticator.ts";
export { apiFacts, type EngineCall, macaroonOf } from "./facts.ts";
export { API_LIMITS } from "./limits.ts";
export { type ListenAddress, parseListenAddress } from "./listen-address.ts";
export { DEFAULT_LIST_LIMIT, listOf, MAX_LIST_LIMIT, pageOf } from "./list.ts";
export { type NodeObject, nodeOf, nodeUuid } from "./node.ts";
export {
  memoryServiceStore,
  openServiceStore,
  type ServiceRecord,
  type ServiceStore,
} from "./service-store.ts";
export { NAMESPACE_LABEL, namespacesOf, scopeOf, SERVICE_LABEL } from "./namespace.ts";
export { randomUuid } from "./node.ts";
export { roleAuthenticator, type RoleAuthenticatorDeps } from "./role-authenticator.ts";
export { ROLE_USER_PREFIX, RoleCredentials, type RoleLocation } from "./role-credential.ts";
export { ActionLog } from "./action.ts";
export { loadActions, saveActions } from "./action-file.ts";
