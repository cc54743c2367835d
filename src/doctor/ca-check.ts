/**
 * The certificate authority on this host: the CA certificate (and its key, on the CA's own host), the server
 * certificates it issued, and the CRL the certificate gate enforces. Callers must have imported
 * "reflect-metadata" (main.ts does) before @peculiar/x509 loads.
 */
import { X509Certificate, X509Crl } from "@peculiar/x509";
import { caFiles, type IssuedCertificate, loadCertificateGate, readIndex } from "../ca/index.ts";
import { isAgentError } from "../errors.ts";
import { stateLayout } from "../store/layout.ts";
import {
  daysUntil,
  type DoctorDeps,
  type DoctorTarget,
  EXPIRY_WARNING_DAYS,
  isoDay,
  octal,
} from "./context.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

export interface CaCheck {
  readonly findings: readonly Finding[];
  readonly gateOn: boolean;
}

function safeMessage(err: unknown, fallback: string): string {
  return isAgentError(err) ? err.message : fallback;
}

function expiry(what: string, notAfter: Date, now: Date): { status: "ok" | "warn" | "fail"; text: string } {
  const days = daysUntil(notAfter, now);
  if (notAfter.getTime() <= now.getTime()) {
    return { status: "fail", text: `${what} expired on ${isoDay(notAfter)}` };
  }
  const text = `${what} expires on ${isoDay(notAfter)} (in ${days} days)`;
  return { status: days < EXPIRY_WARNING_DAYS ? "warn" : "ok", text };
}

/** The newest unrevoked certificate per server or node name: older ones were renewed and are not in use. */
function serversInUse(certificates: readonly IssuedCertificate[]): IssuedCertificate[] {
  const newest = new Map<string, IssuedCertificate>();
  for (const cert of certificates) {
    if (cert.kind === "api" || cert.revokedAt !== undefined) continue;
    const key = `${cert.kind}:${cert.name}`;
    const seen = newest.get(key);
    if (seen === undefined || Date.parse(cert.notBefore) > Date.parse(seen.notBefore)) newest.set(key, cert);
  }
  return [...newest.values()].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
}

async function checkAuthority(deps: DoctorDeps, certificatePath: string, keyPath: string): Promise<Finding> {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(await deps.fs.readText(certificatePath));
  } catch (err) {
    return fail(
      "ca",
      `${certificatePath} is not a readable certificate (${safeMessage(err, "unparsable")}).`,
    );
  }
  const key = await deps.fs.stat(keyPath);
  if (key !== undefined && (key.mode & 0o077) !== 0) {
    return fail(
      "ca",
      `${keyPath} is readable by group or others (mode ${
        octal(key.mode)
      }): whoever reads it can issue certificates. chmod 600 ${keyPath}`,
    );
  }
  const now = deps.clock();
  const { status, text } = expiry(`the CA certificate (${certificate.subject})`, certificate.notAfter, now);
  if (status === "fail") {
    return fail("ca", `${text}: every certificate it issued is refused. Create a new CA and reissue.`);
  }
  const role = key === undefined ? "certificate only (a fleet host)" : "signing key here (the CA's host)";
  const finding = status === "warn" ? warn : ok;
  return finding("ca", `${text}; ${role}.`);
}

async function checkServerCertificates(deps: DoctorDeps, indexPath: string): Promise<Finding | undefined> {
  if (!(await deps.fs.stat(indexPath))) return undefined; // a fleet host has no index: nothing issued here
  let servers: IssuedCertificate[];
  try {
    servers = serversInUse((await readIndex(deps.fs, indexPath)).certificates);
  } catch (err) {
    return fail("certificates", safeMessage(err, `${indexPath} could not be read`) + ".");
  }
  const first = servers[0];
  if (first === undefined) return ok("certificates", "no server or node certificates issued.");
  const now = deps.clock();
  const soon = servers.filter((cert) => daysUntil(new Date(cert.notAfter), now) < EXPIRY_WARNING_DAYS);
  if (soon.length > 0) {
    const list = soon.map((cert) =>
      expiry(`${cert.kind} certificate ${cert.name}`, new Date(cert.notAfter), now).text
    );
    return warn("certificates", `${list.join("; ")}. Renew with: agent ca renew NAME --kind server|node`);
  }
  const { text } = expiry(
    `the first, ${first.kind} certificate ${first.name},`,
    new Date(first.notAfter),
    now,
  );
  return ok("certificates", `${servers.length} server/node certificate(s) in use; ${text}.`);
}

async function checkCrl(deps: DoctorDeps, caDir: string, crlPath: string): Promise<Finding> {
  if (!(await deps.fs.stat(crlPath))) {
    return warn(
      "crl",
      `no ${crlPath}: no certificate counts as revoked here. Copy crl.pem from the CA's host after every revoke.`,
    );
  }
  try {
    // The same load the agent does: a CRL that is corrupt or not signed by this CA stops it from starting.
    await loadCertificateGate(deps.fs, caDir, deps.clock);
  } catch (err) {
    return fail(
      "crl",
      `${safeMessage(err, "the CRL could not be loaded")}: the agent will not start (or reload) with it.`,
    );
  }
  const crl = new X509Crl(await deps.fs.readText(crlPath));
  const revoked = `${crl.entries.length} revoked`;
  const next = crl.nextUpdate;
  if (next !== undefined && next.getTime() <= deps.clock().getTime()) {
    return warn(
      "crl",
      `${crlPath} (${revoked}) is past its next update (${isoDay(next)}): the agent still enforces it, but ` +
        "OpenSSL-based tools refuse it. Run agent ca update-crl on the CA's host and copy it to every host.",
    );
  }
  return ok(
    "crl",
    `${crlPath} is signed by this CA: ${revoked}${next ? `, next update ${isoDay(next)}` : ""}.`,
  );
}

export async function checkCertificateAuthority(deps: DoctorDeps, target: DoctorTarget): Promise<CaCheck> {
  const files = caFiles(stateLayout(target.stateDir).caDir);
  if (!(await deps.fs.stat(files.certificate))) {
    return {
      findings: [
        ok(
          "ca",
          `no CA (${files.certificate}): the certificate gate is off, revoked TLS client certificates are not refused. ` +
            "Fleet hosts get cluster.crt and crl.pem from the CA's host.",
        ),
      ],
      gateOn: false,
    };
  }
  const findings = [await checkAuthority(deps, files.certificate, files.privateKey)];
  const servers = await checkServerCertificates(deps, files.index);
  if (servers) findings.push(servers);
  findings.push(await checkCrl(deps, files.dir, files.crl));
  return { findings, gateOn: true };
}
