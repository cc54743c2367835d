/**
 * The policy `agent install` writes when /etc/agent/policy.yaml is absent. Safe by default: only the local
 * unix socket (root and the docker group, who control the host anyway) may do anything; every TLS user is
 * refused until a rule names them. The TLS example ships commented out; a test uncomments it and loads it.
 */

/** Groups for the commented example (uncommented, they must load: a test checks). */
const TLS_EXAMPLE_GROUPS = `groups:
  ops: [alice]
  developers: [bob]
`;

/** Rules for the commented example, continuing the rules list. */
const TLS_EXAMPLE_RULES = `- id: ops-all
  who: ["group:ops"]
  allow: ["*"]
- id: developers-read
  who: ["group:developers"]
  allow: [container:list, container:inspect, container:logs, "image:*", "system:*"]
- id: developers-run
  who: ["group:developers"]
  allow: [container:create, container:start, container:attach, container:wait, container:stop, container:remove]
- id: developers-no-privileged
  who: ["group:developers"]
  deny: [container:create, container:exec]
  when: { privileged: true }
- id: developers-no-host-mounts
  who: ["group:developers"]
  deny: [container:create, volume:create]
  when: { host_mounts: true }
`;

function indented(text: string, prefix: string): string {
  return text.trimEnd().split("\n").map((line) => `${prefix}${line}`).join("\n") + "\n";
}

function policyText(example: "commented" | "enabled"): string {
  const groups = example === "enabled" ? TLS_EXAMPLE_GROUPS : indented(TLS_EXAMPLE_GROUPS, "# ");
  const rules = example === "enabled"
    ? indented(TLS_EXAMPLE_RULES, "  ")
    : indented(TLS_EXAMPLE_RULES, "  # ");
  return `# Policy of the agent (written by \`agent install\`; reinstalling keeps your changes).
# Default deny: a request that no rule allows is refused, and a matching deny rule wins over any allow.
# The agent reloads this file when it changes; a file that fails to load keeps the previous policy.
# Check it with: agent policy check /etc/agent/policy.yaml    Action names: agent policy actions
version: 1

# Who may install, enable, disable or remove Docker plugins (a disabled authorization plugin stops
# authorizing silently, so plugin changes are refused to everyone else even where a rule allows "*").
administrators: [anonymous]

# TLS users (dockerd --tlsverify) are named by their client certificate's CN
# (agent ca create-api-certificate alice). None may do anything until a rule allows it, for example:
${groups}
rules:
  # The unix socket carries no user ("anonymous"). Only root and the docker group can reach it, and
  # they control the host anyway. (The agent's own name lookups need no rule: builtin:agent-lookups.)
  - id: local-socket
    who: [anonymous]
    allow: ["*"]

  # Example rules for the groups above:
${rules}`;
}

export const DEFAULT_POLICY = policyText("commented");

/** The default policy with its TLS example uncommented (what an operator gets by removing the "# "). */
export function defaultPolicyWithTlsExample(): string {
  return policyText("enabled");
}
