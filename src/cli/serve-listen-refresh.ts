/**
 * `agent serve --listen`: the running listener's TLS material kept current, without a restart and without
 * dropping a connection (HttpsServer.updateTls). Serve calls `check` on each reload (every half second, and
 * with `force` on SIGHUP); a check that finds nothing to do costs a few `stat` calls.
 *
 * - Its own certificate (no --tls-cert) is issued again from the agent's CA (ensureListenerCertificate)
 *   when it comes within LISTENER_RENEW_DAYS of expiry, when the CA changed (`agent ca init --force`), when
 *   the CA revoked it or lost its record, and whatever ensureListenerCertificate finds wrong on a check.
 * - --tls-cert and --tls-key are read again when they change (certbot and the like replace them).
 * - Client certificates are verified against the CA now in the state directory.
 *
 * Files are acted on once they are the same on two checks in a row, so a half-written `agent ca init` is
 * not taken; SIGHUP acts at once. Every file is also checked every CHECK_INTERVAL_MS, whatever the stat
 * calls said. Anything broken keeps the material in force and is logged once; nothing here throws.
 */
import {
  type CaCertificate,
  caFiles,
  ensureListenerCertificate,
  fingerprintOf,
  LISTENER_RENEW_DAYS,
  type ListenerCertificate,
  parsePeerCertificatePems,
  readCaCertificate,
} from "../ca/index.ts";
import { DAY_MS } from "../ca/validity.ts";
import { isAgentError } from "../errors.ts";
import type { HttpsServer, HttpsTls } from "../ports.ts";
import { stateFingerprint } from "../server/state-fingerprint.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";
import type { ListenerTls } from "./serve-https.ts";
import { type ListenPlan, PEM_CERTIFICATE_LABEL, PEM_PRIVATE_KEY_LABEL } from "./serve-listen.ts";

/** Every file is looked at this often even when its size and time did not move; a failed renewal is retried. */
export const CHECK_INTERVAL_MS = 5 * 60_000;

/** Whether a certificate expiring at `notAfter` is due to be issued again (ca/listener-certificate.ts). */
function renewalDue(notAfter: Date, now: Date): boolean {
  return now.getTime() >= notAfter.getTime() - LISTENER_RENEW_DAYS * DAY_MS;
}

export interface ListenerRefreshOptions {
  readonly plan: ListenPlan;
  readonly layout: StateLayout;
  /** What the listener started with. */
  readonly tls: ListenerTls;
  readonly server: Pick<HttpsServer, "updateTls">;
  readonly log: (message: string) => void;
}

interface InForce {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly clientCaPem: string | undefined;
  /** The listener's own certificate's expiry (undefined with --tls-cert). */
  readonly notAfter: Date | undefined;
}

function describe(err: unknown): string {
  return isAgentError(err) ? `${err.message} [${err.code}]` : "internal error";
}

/** The first certificate of a PEM chain: its subject and expiry, for the log. */
function leafOf(chainPem: string): { subject: string; notAfter: Date } | undefined {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(chainPem)?.[0];
  if (first === undefined) return undefined;
  try {
    const leaf = parsePeerCertificatePems([first])[0];
    return leaf === undefined ? undefined : {
      subject: leaf.commonName === undefined ? "no CN" : `CN=${leaf.commonName}`,
      notAfter: leaf.notAfter,
    };
  } catch {
    return undefined;
  }
}

export class ListenerRefresh {
  readonly #ctx: CliContext;
  readonly #options: ListenerRefreshOptions;
  readonly #watched: readonly string[];
  #inForce: InForce;
  /** The watched files' fingerprint last acted on, and the one seen on the previous check. */
  #actedOn: string;
  #seen: string;
  #nextFullCheckMs: number;
  /** After a failed renewal: not tried again for being due before this (a file change still tries). */
  #retryAtMs: number | undefined;
  /** The last problem logged, so a problem that stays is logged once. */
  #reported: string | undefined;
  #toldNotRequested = false;

  private constructor(
    ctx: CliContext,
    options: ListenerRefreshOptions,
    watched: string[],
    fingerprint: string,
  ) {
    this.#ctx = ctx;
    this.#options = options;
    this.#watched = watched;
    this.#actedOn = fingerprint;
    this.#seen = fingerprint;
    this.#nextFullCheckMs = ctx.platform.monotonicMs() + CHECK_INTERVAL_MS;
    this.#retryAtMs = undefined;
    const { tls } = options;
    this.#inForce = {
      certificatePem: tls.certificatePem,
      privateKeyPem: tls.privateKeyPem,
      clientCaPem: tls.clientCaPem,
      notAfter: tls.issued?.notAfter,
    };
  }

  /** Starts keeping the listener's material current; `tls` is what it was started with. */
  static async start(ctx: CliContext, options: ListenerRefreshOptions): Promise<ListenerRefresh> {
    const ca = caFiles(options.layout.caDir);
    const { given } = options.plan;
    const watched = given === undefined
      ? [ca.certificate, ca.privateKey, ca.index]
      : [given.file, given.keyFile, ca.certificate];
    return new ListenerRefresh(ctx, options, watched, await stateFingerprint(ctx.fs, watched));
  }

  /** The material in force (what new connections get). */
  get current(): HttpsTls {
    const { certificatePem, privateKeyPem, clientCaPem } = this.#inForce;
    return { certificatePem, privateKeyPem, ...(clientCaPem === undefined ? {} : { clientCaPem }) };
  }

  /** Looks for a change to apply (`force`: SIGHUP, read everything now). Never throws. */
  async check(force: boolean): Promise<void> {
    try {
      await this.#check(force);
    } catch (err) {
      this.#problem(`HTTPS listener: cannot check its certificate: ${describe(err)}`, force);
    }
  }

  async #check(force: boolean): Promise<void> {
    const now = this.#ctx.platform.monotonicMs();
    const fingerprint = await stateFingerprint(this.#ctx.fs, this.#watched);
    let due = force || now >= this.#nextFullCheckMs;
    if (fingerprint !== this.#actedOn) {
      // The same on two checks in a row: whoever was writing is done.
      if (fingerprint === this.#seen) due = true;
    }
    this.#seen = fingerprint;
    const { notAfter } = this.#inForce;
    if (
      notAfter !== undefined && this.#options.plan.given === undefined &&
      renewalDue(notAfter, this.#ctx.clock()) &&
      (this.#retryAtMs === undefined || now >= this.#retryAtMs)
    ) {
      due = true;
    }
    if (!due) return;
    this.#actedOn = fingerprint;
    this.#nextFullCheckMs = now + CHECK_INTERVAL_MS;
    await this.#apply(force, now);
  }

  async #apply(force: boolean, now: number): Promise<void> {
    const { plan, layout, log } = this.#options;
    const current = this.#inForce;
    const caPath = caFiles(layout.caDir).certificate;
    const problems: string[] = [];
    const parts: string[] = [];

    // The CA client certificates are verified against.
    let ca: CaCertificate | undefined;
    try {
      ca = await readCaCertificate(this.#ctx.fs, caFiles(layout.caDir));
    } catch (err) {
      problems.push(`cannot read the CA in ${caPath}, keeping the one in force: ${describe(err)}`);
    }
    const requested = this.#options.tls.clientCaPem !== undefined;
    if (!requested && ca !== undefined && !this.#toldNotRequested) {
      this.#toldNotRequested = true;
      log(
        `HTTPS listener: there is a CA in ${caPath} now, but the listener started without one and asks for no ` +
          "client certificates: restart serve to accept them",
      );
    }
    const clientCaPem = requested && ca !== undefined ? ca.pem : current.clientCaPem;
    if (clientCaPem !== current.clientCaPem && ca !== undefined) {
      parts.push(
        `client certificates are now verified against the new CA in ${caPath} ` +
          `(${ca.certificate.subject}, SHA-256 fingerprint ${fingerprintOf(ca.certificate.rawData)})`,
      );
    }

    // The certificate it serves.
    let certificatePem = current.certificatePem;
    let privateKeyPem = current.privateKeyPem;
    let notAfter = current.notAfter;
    if (plan.given === undefined) {
      let issued: ListenerCertificate | undefined;
      try {
        const names = this.#options.tls.issued?.names;
        if (names === undefined) throw new Error("the listener's names are unknown");
        const { fs, clock, random } = this.#ctx;
        issued = await ensureListenerCertificate(
          { fs, clock, random, caDir: layout.caDir },
          layout.listenerDir,
          names,
        );
        this.#retryAtMs = undefined;
        if (renewalDue(issued.notAfter, clock())) {
          // The CA cannot issue one that lasts longer (it ends soon itself): asked again at the full check.
          this.#retryAtMs = now + CHECK_INTERVAL_MS;
          const ends = ca === undefined ? "" : ` (it expires ${ca.certificate.notAfter.toISOString()})`;
          problems.push(
            `its certificate expires ${issued.notAfter.toISOString()}, and the agent's CA${ends} cannot issue ` +
              "one that expires later: replace the CA, or pass --tls-cert and --tls-key",
          );
        }
      } catch (err) {
        this.#retryAtMs = now + CHECK_INTERVAL_MS;
        const expires = current.notAfter === undefined
          ? ""
          : ` (it expires ${current.notAfter.toISOString()})`;
        const minutes = CHECK_INTERVAL_MS / 60_000;
        problems.push(
          `cannot issue its certificate again from the agent's CA, keeping the one in force${expires}: ` +
            `${describe(err)}; trying again in ${minutes} minutes, on SIGHUP or when the CA changes`,
        );
      }
      if (issued !== undefined && issued.certificatePem !== current.certificatePem) {
        certificatePem = issued.certificatePem;
        privateKeyPem = issued.privateKeyPem;
        notAfter = issued.notAfter;
        parts.push(
          issued.status === "issued"
            ? `it now serves a certificate issued again from the agent's CA, ${issued.certificatePath} ` +
              `(${issued.why}), expiring ${issued.notAfter.toISOString()}`
            : `it now serves the certificate in ${issued.certificatePath}, expiring ${issued.notAfter.toISOString()}`,
        );
      }
    } else {
      const { file, keyFile } = plan.given;
      const read = await this.#readGiven(file, keyFile);
      if (typeof read === "string") {
        problems.push(
          `cannot use the new --tls-cert ${file} and --tls-key ${keyFile}, keeping the last good ones: ${read}`,
        );
      } else if (
        read.certificatePem !== current.certificatePem || read.privateKeyPem !== current.privateKeyPem
      ) {
        certificatePem = read.certificatePem;
        privateKeyPem = read.privateKeyPem;
        parts.push(
          `it now serves the new --tls-cert ${file} (${read.subject}, expiring ${read.notAfter.toISOString()})`,
        );
      }
    }

    const next: InForce = { certificatePem, privateKeyPem, clientCaPem, notAfter };
    if (parts.length > 0) {
      try {
        this.#options.server.updateTls({
          certificatePem,
          privateKeyPem,
          ...(clientCaPem === undefined ? {} : { clientCaPem }),
        });
        this.#inForce = next;
        log(`HTTPS listener: ${parts.join("; ")}`);
      } catch (err) {
        this.#retryAtMs = now + CHECK_INTERVAL_MS;
        problems.push(
          plan.given === undefined
            ? `cannot use its new certificate, keeping the one in force: ${describe(err)}`
            : `cannot use the new --tls-cert ${plan.given.file} and --tls-key ${plan.given.keyFile}, ` +
              `keeping the last good ones: ${describe(err)}`,
        );
      }
    }
    if (problems.length === 0) this.#reported = undefined;
    else this.#problem(`HTTPS listener: ${problems.join("; ")}`, force);
  }

  /** --tls-cert and --tls-key as they are now, or what is wrong with them. */
  async #readGiven(
    file: string,
    keyFile: string,
  ): Promise<string | { certificatePem: string; privateKeyPem: string; subject: string; notAfter: Date }> {
    let certificatePem: string;
    let privateKeyPem: string;
    try {
      certificatePem = await this.#ctx.fs.readText(file);
    } catch {
      return `cannot read ${file}`;
    }
    try {
      privateKeyPem = await this.#ctx.fs.readText(keyFile);
    } catch {
      return `cannot read ${keyFile}`;
    }
    const leaf = PEM_CERTIFICATE_LABEL.test(certificatePem) ? leafOf(certificatePem) : undefined;
    if (leaf === undefined) return `${file} holds no PEM certificate`;
    if (!PEM_PRIVATE_KEY_LABEL.test(privateKeyPem)) return `${keyFile} holds no PEM private key`;
    return { certificatePem, privateKeyPem, ...leaf };
  }

  #problem(message: string, force: boolean): void {
    if (!force && message === this.#reported) return;
    this.#reported = message;
    this.#options.log(message);
  }
}
