/** A bounded least-recently-used cache on Map's insertion order. */
export class LruCache<K, V> {
  readonly #limit: number;
  readonly #items = new Map<K, V>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError("LruCache: limit must be a positive integer");
    }
    this.#limit = limit;
  }

  get size(): number {
    return this.#items.size;
  }

  get(key: K): V | undefined {
    const value = this.#items.get(key);
    if (value === undefined) return undefined;
    // Re-insert so the entry becomes the most recently used.
    this.#items.delete(key);
    this.#items.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.#items.delete(key);
    this.#items.set(key, value);
    if (this.#items.size > this.#limit) {
      const oldest = this.#items.keys().next();
      if (!oldest.done) this.#items.delete(oldest.value);
    }
  }

  clear(): void {
    this.#items.clear();
  }
}
