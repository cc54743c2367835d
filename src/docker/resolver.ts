/**
 * Resolves the names and short ids a request or a command uses to the full ids the daemon knows.
 * The macaroon caveats compare full ids, so "web", "3f2a" and the 64-hex id must all resolve alike.
 */
export interface DockerResolver {
  /** Full container id for a name, short id or full id; undefined when the daemon has no such container. */
  resolveContainer(ref: string): Promise<string | undefined>;
  /** Full image id ("sha256:<hex>") for a name[:tag], short id or full id; undefined when unknown. */
  resolveImage(ref: string): Promise<string | undefined>;
  /** Full id of the container an exec instance belongs to; undefined when unknown. */
  containerOfExec(execId: string): Promise<string | undefined>;
  /**
   * What a lookup would answer from its cache alone, without asking the daemon: `{ id }` (id undefined: known
   * not to exist), or undefined when it would have to ask. Lets a cached answer skip the lookup's deadline.
   */
  cached?(kind: ResolverKind, ref: string): { readonly id: string | undefined } | undefined;
}

export type ResolverKind = "container" | "image" | "exec";
