/** One request's lookups, each asked once: a body may name one network or container in several places. */
import type { EngineLookup, NamespacedKind, ObjectInfo } from "./namespace-types.ts";

export function memoLookup(lookup: EngineLookup): EngineLookup {
  const found = new Map<string, Promise<ObjectInfo | undefined>>();
  const execs = new Map<string, Promise<string | undefined>>();
  const once = <V>(cache: Map<string, Promise<V>>, key: string, ask: () => Promise<V>): Promise<V> => {
    let answer = cache.get(key);
    if (answer === undefined) {
      answer = ask();
      cache.set(key, answer);
    }
    return answer;
  };
  const imageLabels = lookup.imageLabels?.bind(lookup);
  return {
    find: (kind: NamespacedKind, ref: string) =>
      once(found, `${kind}\u0000${ref}`, () => lookup.find(kind, ref)),
    containerOfExec: (execId: string) => once(execs, execId, () => lookup.containerOfExec(execId)),
    ...(imageLabels === undefined ? {} : { imageLabels }),
  };
}
