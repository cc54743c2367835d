/**
 * API keys for the agent's HTTPS API (pure: randomness and time are parameters). The listener calls
 * parseBasicAuthorization on the Authorization header, asks the FailedAttemptLimiter first (429), then
 * verifyApiKey against the set the server loaded (LoadedState.apiKeys), and records uses in LastUsedTimes.
 * `agent apikey create|list|revoke` (src/cli/apikey.ts) manage the set.
 */
export {
  API_KEY_LENGTH,
  API_KEY_PREFIX,
  API_KEY_RANDOM_BYTES,
  type ApiKeyFormatProblem,
  apiKeyFormatProblem,
  describeFormatProblem,
  DISPLAY_PREFIX_CHARS,
  displayPrefix,
  formatApiKey,
  isWellFormedApiKey,
  newApiKey,
} from "./format.ts";
export { apiKeyDigest } from "./digest.ts";
export {
  type ApiKeyRecord,
  type ApiKeySet,
  type ApiKeyStatus,
  apiKeyStatus,
  createApiKey,
  type CreatedApiKey,
  emptyApiKeySet,
  findApiKey,
  matchApiKeys,
  MAX_API_KEY_NAME_LENGTH,
  MAX_API_KEYS,
  type NewApiKeyRequest,
  revokeApiKey,
  type RevokedApiKey,
  validateApiKeyName,
} from "./key-set.ts";
export { loadApiKeys, saveApiKeys } from "./file.ts";
export { type ApiKeyFailure, type ApiKeyVerdict, indexApiKeys, verifyApiKey } from "./verify.ts";
export {
  type BasicAuthFailure,
  type BasicAuthResult,
  MAX_AUTHORIZATION_LENGTH,
  parseBasicAuthorization,
  type UnverifiedApiKeyCredentials,
} from "./basic-auth.ts";
export { DEFAULT_FAILED_ATTEMPT_LIMITS, FailedAttemptLimiter, type FailedAttemptLimits } from "./limiter.ts";
export { LastUsedTimes, mergeLastUsed } from "./last-used.ts";
export { loadLastUsed, saveLastUsed } from "./last-used-file.ts";
