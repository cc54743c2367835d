/**
 * The systemd unit `agent install` writes. Every line is deliberate; the comments in the unit say why, so an
 * operator reading /etc/systemd/system/agent.service learns the reasons where they would change them.
 */
import { AgentError } from "../errors.ts";
import { dirName } from "../store/path.ts";
import { HOST_PATHS, type HostPaths } from "./host-paths.ts";

/** How long ExecStartPost waits for the socket before the start counts as failed (tenths of a second). */
const SOCKET_WAIT_TENTHS = 100;

/** Paths go into the unit unquoted: only plain path characters are accepted (the install paths are fixed). */
function plain(path: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(path)) {
    throw new AgentError("ERR_INTERNAL", "internal error", `unit path is not plain: ${path}`);
  }
  return path;
}

export function systemdUnit(paths: HostPaths = HOST_PATHS): string {
  const binary = plain(paths.binary);
  const stateDir = plain(paths.stateDir);
  const policy = plain(paths.policy);
  const socket = plain(paths.socket);
  const pluginDir = dirName(socket);
  const runtimeDir = pluginDir.replace(/^\/run\//, "");
  const stateDirName = stateDir.replace(/^\/var\/lib\//, "");
  return `# Written by \`agent install\`; \`agent uninstall\` removes it. Reinstalling replaces this file: put local
# changes in a drop-in (systemctl edit agent).
[Unit]
Description=agent: authorization plugin guarding the Docker Engine API
# dockerd exits at start ("failed to validate authorization plugin") when a configured plugin's socket is
# missing, so the agent starts first and docker.service pulls it in (WantedBy= below).
# Wanted, not Required: with Requires= every restart of the agent (an upgrade, a crash) would also restart
# dockerd and stop its containers. While the agent is down dockerd refuses API calls (it retries the socket,
# then fails the call): the host fails closed either way.
Before=docker.service

[Service]
Type=simple
ExecStart=${binary} serve --state-dir ${stateDir} --policy ${policy} --socket ${socket}
# Type=simple counts as started at exec: hold docker.service back until the socket is really there.
ExecStartPost=/bin/sh -c 'i=0; while [ ! -S ${socket} ]; do i=$$((i+1)); [ $$i -gt ${SOCKET_WAIT_TENTHS} ] && exit 1; sleep 0.1; done'
# SIGHUP reloads the policy, CA and keys (a broken policy keeps the previous one); file changes reload too.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=1s
TimeoutStopSec=10s
UMask=0077
# Every HTTPS API connection and websocket is a descriptor (up to 4,096 connections, src/api/limits.ts).
LimitNOFILE=65536

# State: keys, CA, audit log. Created 0700 by systemd and the only writable places besides the socket's.
StateDirectory=${stateDirName}
StateDirectoryMode=0700
# The plugin socket's directory. dockerd makes it 0700; keep that mode, and keep the directory (and other
# plugins' sockets in it) when the agent stops.
RuntimeDirectory=${runtimeDir}
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes
ReadWritePaths=${stateDir} ${pluginDir}

# Hardening. The agent runs as root (dockerd connects as root and the state is root's) but with no
# capabilities at all: root owns every file it touches, so plain owner permissions suffice.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
# Plugin mode speaks only over unix sockets: to dockerd, and to the Engine API for name lookups.
RestrictAddressFamilies=AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RemoveIPC=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# MemoryDenyWriteExecute= is deliberately absent: the agent is a Bun executable, whose JavaScriptCore JIT
# maps memory writable and executable; with it the agent would crash at start.

[Install]
WantedBy=multi-user.target docker.service
`;
}
