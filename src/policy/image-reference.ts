/**
 * The spellings of one image reference, so a pattern written as "alpine", "alpine:3.19" or
 * "docker.io/library/alpine" matches however the client wrote it. Image ids and unparsable strings are
 * matched only as written.
 */

const IMAGE_ID = /^(?:sha256:[0-9a-f]+|[0-9a-f]{12,64})$/i;

/** Registry host the way Docker recognises one: has a dot or port, is localhost, or is not lower-case. */
function isRegistry(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost" ||
    component !== component.toLowerCase();
}

export function imageForms(reference: string): readonly string[] {
  if (IMAGE_ID.test(reference)) return [reference];
  let name = reference;
  let digest = "";
  const at = name.indexOf("@");
  if (at >= 0) {
    digest = name.slice(at);
    name = name.slice(0, at);
  }
  let tag = "";
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  if (name === "") return [reference];
  const slash = name.indexOf("/");
  const head = slash >= 0 ? name.slice(0, slash) : "";
  const repositories: string[] = [];
  if (slash >= 0 && isRegistry(head) && head !== "docker.io" && head !== "index.docker.io") {
    repositories.push(name);
  } else {
    const path = slash >= 0 && isRegistry(head) ? name.slice(slash + 1) : name;
    const full = path.includes("/") ? path : `library/${path}`;
    const familiar = full.startsWith("library/") && full.indexOf("/", 8) < 0 ? full.slice(8) : full;
    repositories.push(familiar, `docker.io/${full}`);
  }
  const suffix = digest !== ""
    ? `${tag !== "" ? `:${tag}` : ""}${digest}`
    : `:${tag !== "" ? tag : "latest"}`;
  const forms = [reference];
  for (const repository of repositories) {
    if (!forms.includes(repository)) forms.push(repository);
    const tagged = repository + suffix;
    if (!forms.includes(tagged)) forms.push(tagged);
  }
  return forms;
}
