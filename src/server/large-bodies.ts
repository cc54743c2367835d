/**
 * Large plugin requests, bounded. A request with a body of hundreds of kilobytes becomes several copies while
 * it is decided (the text, the base64 RequestBody, its bytes, the decoded JSON): megabytes of garbage each.
 * The collector does not keep up with a stream of them (measured: a sequence of 1 MiB requests took the
 * agent from 59 to 156 MiB, sixteen at once to 216 MiB). So only a few are read and decoded at a time, the
 * rest wait their turn, and once the large requests since the last collection add up to the budget the
 * runtime is asked for one (a full collection is ~10 ms: paid once per budget, not per request).
 * Small requests, nearly all of them, never wait and never count.
 */

/** A request body at least this large is a large one. */
export const LARGE_BODY_BYTES = 256 * 1024;
/** How many large requests are read and decoded at once. */
export const LARGE_BODIES_AT_ONCE = 2;
/** Bytes of large bodies between two collections. */
export const LARGE_BODY_BUDGET_BYTES = 4 * 1024 * 1024;

export interface LargeBodiesOptions {
  readonly atOnce?: number;
  readonly budgetBytes?: number;
  /** Asks the runtime for a full collection (the platform's; absent where the runtime has none). */
  readonly collect?: () => void;
}

export class LargeBodies {
  readonly #atOnce: number;
  readonly #budget: number;
  readonly #collect: (() => void) | undefined;
  readonly #waiting: (() => void)[] = [];
  #active = 0;
  #spent = 0;

  constructor(options: LargeBodiesOptions = {}) {
    this.#atOnce = Math.max(1, options.atOnce ?? LARGE_BODIES_AT_ONCE);
    this.#budget = options.budgetBytes ?? LARGE_BODY_BUDGET_BYTES;
    this.#collect = options.collect;
  }

  /** Whether a body of `bytes` (Content-Length; NaN when unknown) must take a turn. */
  static isLarge(bytes: number): boolean {
    return Number.isFinite(bytes) && bytes >= LARGE_BODY_BYTES;
  }

  /** Waits for a turn for a body of `bytes`; call the returned function once the request is decided. */
  async admit(bytes: number): Promise<() => void> {
    if (this.#active >= this.#atOnce) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#spent += bytes;
      if (this.#spent >= this.#budget) {
        this.#spent = 0;
        this.#collect?.();
      }
      // The turn passes straight to the next in line (the count of active turns stays the same).
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#active--;
    };
  }

  /** Turns in use and requests waiting for one (for tests and the status page). */
  get load(): { readonly active: number; readonly waiting: number } {
    return { active: this.#active, waiting: this.#waiting.length };
  }
}
