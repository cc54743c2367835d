/** Explicit limits on policy files; documented in README.md. */

/** Largest policy file accepted (UTF-8 bytes). */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Most rules a policy may hold. */
export const MAX_RULES = 10_000;
/** Longest rule id (ids appear in denials and the audit log). */
export const MAX_RULE_ID_LENGTH = 128;
/** Longest user, group, OU or O name (dockerd's User field is capped at the same length). */
export const MAX_NAME_LENGTH = 1024;
/** Longest seed-style `uri` regular expression. */
export const MAX_REGEX_LENGTH = 4096;
