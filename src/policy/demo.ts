/** The embedded demo policy (`scripts/run`, `agent policy demo`); it must always load (a test checks). */
export const DEMO_POLICY = `# Demo policy for the agent: a starting point for /etc/agent/policy.yaml.
# Default deny: a request no rule allows is refused. A matching deny rule wins over any allow.
# Check a policy with: agent policy check FILE    List action names with: agent policy actions
version: 1

# Who may install, enable, disable, configure, upgrade or remove plugins. A managed authorization
# plugin that someone disables stops authorizing silently, so plugin changes are refused to everyone
# else even when an allow rule says "*". (Administrators still need an allow rule.)
administrators: ["group:ops", anonymous]

groups:
  ops: [alice]
  developers: [bob]

rules:
  # The unix socket has no user ("anonymous"): only root and the docker group reach it, and they
  # control the host anyway. Allowed everything so the demo host stays usable. (The agent's own name
  # lookups for macaroon caveats need no rule here: they pass as builtin:agent-lookups.)
  - id: local-socket
    who: [anonymous]
    allow: ["*"]

  # Operators (TLS certificate CN alice) may do everything.
  - id: ops-all
    who: ["group:ops"]
    allow: ["*"]

  # Developers read containers, work with images, and see system information.
  - id: developers-read
    who: ["group:developers"]
    allow:
      - container:list
      - container:inspect
      - container:logs
      - container:top
      - container:stats
      - container:changes
      - image:list
      - image:inspect
      - image:history
      - image:pull
      - "system:*"
      - network:list
      - network:inspect
      - volume:list
      - volume:inspect

  # ... and run containers (the policy cannot tell whose container it is: macaroon caveats can).
  - id: developers-run
    who: ["group:developers"]
    allow:
      - container:create
      - container:start
      - container:attach
      - container:wait
      - container:resize
      - container:stop
      - container:kill
      - container:restart
      - container:remove
      - container:exec
      - exec:start
      - exec:resize
      - exec:inspect
      - volume:create

  # Never with the powers that make a container root on the host.
  - id: developers-no-privileged
    who: ["group:developers"]
    deny: [container:create, container:exec]
    when: { privileged: true }

  - id: developers-no-host-mounts
    who: ["group:developers"]
    deny: [container:create, volume:create]
    when: { host_mounts: true }

  - id: developers-no-host-network
    who: ["group:developers"]
    deny: [container:create]
    when: { network_mode: [host, "container:*"] }

  - id: developers-no-host-pid
    who: ["group:developers"]
    deny: [container:create]
    when: { pid_mode: [host, "container:*"] }

  - id: developers-no-host-ipc
    who: ["group:developers"]
    deny: [container:create]
    when: { ipc_mode: [host, "container:*"] }

  - id: developers-no-host-userns
    who: ["group:developers"]
    deny: [container:create]
    when: { userns_mode: host }

  - id: developers-no-capabilities
    who: ["group:developers"]
    deny: [container:create]
    when: { cap_add: true }

  - id: developers-no-devices
    who: ["group:developers"]
    deny: [container:create, container:update]
    when: { devices: true }

  - id: developers-confined
    who: ["group:developers"]
    deny: [container:create]
    when: { unconfined: true }
`;
