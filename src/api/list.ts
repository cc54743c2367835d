/**
 * Docker Cloud's list shape: `{"meta": {"limit", "offset", "next", "previous", "total_count"}, "objects"}`,
 * paged with `?limit=&offset=`; next and previous are URIs of the same list (null at the ends).
 */
import { AgentError } from "../errors.ts";

export const DEFAULT_LIST_LIMIT = 25;
export const MAX_LIST_LIMIT = 100;

export interface Page {
  readonly limit: number;
  readonly offset: number;
}

export interface ListMeta {
  readonly limit: number;
  readonly offset: number;
  readonly next: string | null;
  readonly previous: string | null;
  readonly total_count: number;
}

function whole(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const values = query.getAll(name);
  if (values.length === 0) return fallback;
  const value = values[0]!;
  if (values.length > 1 || !/^[0-9]{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new AgentError(
      "ERR_API_BAD_REQUEST",
      `${name} must be a whole number from ${min} to ${max}, given once`,
    );
  }
  return Number(value);
}

/** The page a query asks for; ERR_API_BAD_REQUEST for a bad limit or offset. */
export function pageOf(query: URLSearchParams): Page {
  return {
    limit: whole(query, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT),
    offset: whole(query, "offset", 0, 0, 999_999_999),
  };
}

export function listOf<T>(path: string, page: Page, all: readonly T[]): { meta: ListMeta; objects: T[] } {
  const { limit, offset } = page;
  const at = (o: number) => `${path}?limit=${limit}&offset=${o}`;
  return {
    meta: {
      limit,
      offset,
      next: offset + limit < all.length ? at(offset + limit) : null,
      previous: offset > 0 ? at(Math.max(0, offset - limit)) : null,
      total_count: all.length,
    },
    objects: all.slice(offset, offset + limit),
  };
}
