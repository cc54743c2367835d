/**
 * Builds the image reference a pull, push, import or commit really acts on from the query's name and `tag`,
 * the way moby combines them (distribution/reference WithTag / WithDigest), so a policy sees "app:2" for
 * `fromImage=app:1&tag=2` rather than the client's two halves. No normalisation ("docker.io/library/",
 * ":latest") happens here: the reference stays as the client spelled it.
 */

/** A tag is a digest when it has an algorithm prefix ("sha256:..."): plain tags may not contain ':'. */
function isDigest(tag: string): boolean {
  return tag.includes(":");
}

/** The reference without its tag; a tag's ':' comes after the last '/' (a registry port's comes before). */
function withoutTag(name: string): string {
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
}

/**
 * `name` with `tag` applied: a digest replaces tag and digest ("repo@sha256:..."), a tag replaces the tag and
 * keeps a digest ("repo:tag@sha256:..."). An empty tag leaves `name` as it is.
 */
export function withTagOrDigest(name: string, tag: string): string {
  if (tag === "") return name;
  const at = name.indexOf("@");
  const named = at === -1 ? name : name.slice(0, at);
  const repository = withoutTag(named);
  if (isDigest(tag)) return `${repository}@${tag}`;
  return at === -1 ? `${repository}:${tag}` : `${repository}:${tag}${name.slice(at)}`;
}

/** The reference `POST /images/create?fromImage=..&tag=..` pulls ("pull -a" may leave a trailing ':'). */
export function pulledReference(fromImage: string, tag: string): string {
  const name = fromImage.endsWith(":") ? fromImage.slice(0, -1) : fromImage;
  return withTagOrDigest(name, tag);
}
