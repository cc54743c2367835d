/**
 * The Docker caveats judged against one request: whether it reads or writes (the route table's effect, never
 * the HTTP method alone: the websocket attach is a GET that writes), which container or
 * image a request acts on (names, short ids and exec ids resolved to full ids through the daemon), expiry,
 * and the client address (which plugins are never told). Pure: the resolver and the time are passed in.
 */
import type { RouteEffect, RouteMatch } from "../authz/routes.ts";
import type { DockerResolver, ResolverKind } from "../docker/resolver.ts";
import { AgentError } from "../errors.ts";
import { type DockerCaveat, ipMatches } from "../macaroon/index.ts";

/** What the caveats look at in a request (taken from RequestFacts). */
export interface CaveatRequest {
  readonly method: string;
  readonly action: string;
  /** The request's effect (RequestFacts.effect): what `op` judges. */
  readonly effect: RouteEffect;
  /** The route reads, but the request asked for a protocol upgrade, which makes it a write. */
  readonly upgrade: boolean;
  readonly resources: RouteMatch["resources"];
  /** Parsed JSON body (container creation names its image there). */
  readonly body: unknown;
  /** The client's IP address when the door knows it (the HTTPS listener); undefined in plugin mode. */
  readonly clientAddress?: string;
}

/** `true` when the caveat holds, otherwise why not (safe text: no token, no body). */
export type CaveatResult = true | string;

const MAX_SHOWN_REF = 80;

export const IP_CAVEAT_UNCHECKABLE =
  "ip caveat cannot be checked: dockerd does not tell plugins the client address";

/** A name from the request, bounded and quoted for a message. */
function shown(ref: string): string {
  return JSON.stringify(ref.length > MAX_SHOWN_REF ? `${ref.slice(0, MAX_SHOWN_REF)}...` : ref);
}

/**
 * The caveats that need no lookup: op, expires, ip. Returns undefined for container_id and image_id, which
 * need the daemon (see RequestTargets).
 */
export function checkLocalCaveat(
  c: DockerCaveat,
  request: CaveatRequest,
  nowMs: number,
): CaveatResult | undefined {
  switch (c.name) {
    case "op": {
      if (request.effect === "read") return c.read || `${describeCall(request)} is a read request`;
      return c.write || `${describeCall(request)} is a write request`;
    }
    case "expires":
      return nowMs < c.atMs || `expired at ${new Date(c.atMs).toISOString()}`;
    case "ip":
      if (request.clientAddress === undefined) return IP_CAVEAT_UNCHECKABLE;
      return ipMatches(c.range, request.clientAddress) ||
        `the client address ${shown(request.clientAddress)} is outside it`;
    case "container_id":
    case "image_id":
      return undefined;
  }
}

/** "volume:create (POST)", "container:attach (GET)", "container:list (GET with an Upgrade header)". */
function describeCall(request: CaveatRequest): string {
  return `${request.action} (${request.method}${request.upgrade ? " with an Upgrade header" : ""})`;
}

/** What a request acts on: resolved full ids, or why it acts on no such object. */
type Target =
  | { readonly kind: "none"; readonly why: string }
  | {
    readonly kind: "refs";
    readonly list: readonly { readonly ref: string; readonly id: string | undefined }[];
  };

/** A value at once, or a promise of it when the daemon had to be asked. */
export type Eventually<T> = T | Promise<T>;

/**
 * The container and images one request acts on, each resolved once per request (several caveats may ask).
 * Answers from the resolver's cache come back at once, without a promise: a repeated token's caveats are
 * judged in the request's own turn. Every lookup has a deadline: dockerd waits on the plugin without a
 * timeout of its own, so a stuck lookup must end in a deny, never in a hang.
 */
export class RequestTargets {
  readonly #request: CaveatRequest;
  readonly #resolver: DockerResolver;
  readonly #timeoutMs: number;
  #container: Eventually<Target> | undefined;
  #images: Eventually<Target> | undefined;

  constructor(request: CaveatRequest, resolver: DockerResolver, timeoutMs: number) {
    this.#request = request;
    this.#resolver = resolver;
    this.#timeoutMs = timeoutMs;
  }

  container(): Eventually<Target> {
    this.#container ??= this.#findContainer();
    return this.#container;
  }

  images(): Eventually<Target> {
    this.#images ??= this.#findImages();
    return this.#images;
  }

  #findContainer(): Eventually<Target> {
    const { action, resources } = this.#request;
    // The name in a create request is the new container's; an old container of that name is not it.
    if (action === "container:create") {
      return { kind: "none", why: "container creation does not act on an existing container" };
    }
    if (resources.container !== undefined) return this.#refs("container", [resources.container], "");
    if (resources.exec !== undefined) return this.#refs("exec", [resources.exec], "exec ");
    return { kind: "none", why: `${action} does not act on a container` };
  }

  #findImages(): Eventually<Target> {
    const { action, resources, body } = this.#request;
    if (action === "container:create") {
      const names = imageFieldValues(body);
      if (names.length === 0) return { kind: "none", why: "the container creation request names no image" };
      const refs: string[] = [];
      for (const ref of names) {
        if (typeof ref !== "string" || ref === "") {
          return { kind: "none", why: "the container creation request's Image is not a name" };
        }
        refs.push(ref);
      }
      return this.#refs("image", refs, "");
    }
    if (resources.image !== undefined) return this.#refs("image", [resources.image], "");
    return { kind: "none", why: `${action} does not act on an image` };
  }

  /** Each ref resolved in order (shown as `label` + ref); at once while every answer is cached. */
  #refs(kind: ResolverKind, refs: readonly string[], label: string): Eventually<Target> {
    const list: { ref: string; id: string | undefined }[] = [];
    for (let i = 0; i < refs.length; i++) {
      const id = this.#resolve(kind, refs[i]!);
      if (id instanceof Promise) return this.#refsLater(kind, refs, label, list, i, id);
      list.push({ ref: label + refs[i]!, id });
    }
    return { kind: "refs", list };
  }

  /** The rest of #refs once a lookup had to ask the daemon: `pending` is the answer for refs[from]. */
  async #refsLater(
    kind: ResolverKind,
    refs: readonly string[],
    label: string,
    list: { ref: string; id: string | undefined }[],
    from: number,
    pending: Promise<string | undefined>,
  ): Promise<Target> {
    list.push({ ref: label + refs[from]!, id: await pending });
    for (let i = from + 1; i < refs.length; i++) {
      list.push({ ref: label + refs[i]!, id: await this.#resolve(kind, refs[i]!) });
    }
    return { kind: "refs", list };
  }

  /** The full id of `ref`: from the resolver's cache at once, else a lookup with its deadline. */
  #resolve(kind: ResolverKind, ref: string): Promise<string | undefined> | string | undefined {
    const hit = this.#resolver.cached?.(kind, ref);
    if (hit !== undefined) return hit.id;
    const resolver = this.#resolver;
    return this.#lookup(
      kind === "container"
        ? resolver.resolveContainer(ref)
        : kind === "image"
        ? resolver.resolveImage(ref)
        : resolver.containerOfExec(ref),
    );
  }

  #lookup(lookup: Promise<string | undefined>): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new AgentError("ERR_DOCKER_UNREACHABLE", "the Docker daemon did not answer a lookup in time"),
          ),
        this.#timeoutMs,
      );
    });
    return Promise.race([lookup, deadline]).finally(() => clearTimeout(timer));
  }
}

/** A container_id or image_id caveat against what the request acts on (other caveats hold here). */
export function checkTargetCaveat(c: DockerCaveat, targets: RequestTargets): Eventually<CaveatResult> {
  if (c.name !== "container_id" && c.name !== "image_id") return true;
  const target = c.name === "container_id" ? targets.container() : targets.images();
  return target instanceof Promise ? target.then((t) => judgeTarget(c, t)) : judgeTarget(c, target);
}

type TargetCaveat = Extract<DockerCaveat, { readonly name: "container_id" | "image_id" }>;

function judgeTarget(c: TargetCaveat, target: Target): CaveatResult {
  const kind = c.name === "container_id" ? "container" : "image";
  if (target.kind === "none") return target.why;
  for (const { ref, id } of target.list) {
    if (id === undefined) return `no such ${kind} ${shown(ref)} on this host`;
    if (id !== c.id) return `the request acts on ${kind} ${shown(ref)}, not on this token's ${kind}`;
  }
  return true;
}

/**
 * The values dockerd would decode into the create body's `Image` field. Go's encoding/json matches keys
 * case-insensitively (folding U+0130 and U+0131 onto I), so `{"image": ...}` counts; every candidate must pass.
 */
function imageFieldValues(body: unknown): unknown[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return [];
  const out: unknown[] = [];
  for (const key of Object.keys(body)) {
    if (key.length !== 5 || !foldsToImage(key)) continue;
    const value = (body as Record<string, unknown>)[key];
    if (value !== null) out.push(value); // Go leaves a field untouched for JSON null
  }
  return out;
}

function foldsToImage(key: string): boolean {
  const expected = "IMAGE";
  for (let i = 0; i < 5; i++) {
    let c = key.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    else if (c === 0x0130 || c === 0x0131) c = 0x49;
    if (c !== expected.charCodeAt(i)) return false;
  }
  return true;
}
