/**
 * Bypass attempts against a private dockerd with --tlsverify whose authorization plugin is the agent, sent to
 * dockerd's own TLS port. The attempts are shared with the gateway's door (bypass-gateway.e2e.test.ts); see
 * bypass-attempts.ts.
 */
import { bypassSuite } from "./bypass-attempts.ts";

bypassSuite("plugin");
