/**
 * A bounded least-recently-used cache (Map insertion order) for token verification results. A docker CLI
 * session sends the same X-Macaroon on every call, so the HMAC chain is computed once per token. It lives in
 * one gate instance: a state reload (revocation, rotation, retirement) builds a new gate with an empty cache.
 */
export class VerificationCache<V> {
  readonly #limit: number;
  readonly #items = new Map<string, V>();
  #hits = 0;
  #misses = 0;

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  get(key: string): V | undefined {
    const value = this.#items.get(key);
    if (value === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    // Re-insert so the entry becomes the most recently used.
    this.#items.delete(key);
    this.#items.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    this.#items.delete(key);
    this.#items.set(key, value);
    if (this.#items.size > this.#limit) {
      const oldest = this.#items.keys().next();
      if (!oldest.done) this.#items.delete(oldest.value);
    }
  }

  stats(): { readonly hits: number; readonly misses: number; readonly size: number } {
    return { hits: this.#hits, misses: this.#misses, size: this.#items.size };
  }
}
