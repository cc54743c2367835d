/**
 * dockerd's `GET /events` is a stream of JSON objects, one per line (Go's json.Encoder). The gateway shows a
 * caller only the events of its namespaces: each complete line is parsed and kept or dropped; a line that
 * does not parse is dropped (never passed on unjudged), and one longer than MAX_LINE_BYTES ends the stream.
 */
import { joinBytes } from "../bytes.ts";

const MAX_LINE_BYTES = 1024 * 1024;

export function filterJsonLines(
  body: ReadableStream<Uint8Array>,
  keep: (item: unknown) => Promise<boolean>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const newline = pending.indexOf("\n");
        if (newline >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (line.trim() === "") continue;
          let item: unknown;
          try {
            item = JSON.parse(line);
          } catch {
            continue;
          }
          if (await keep(item)) {
            controller.enqueue(encoder.encode(`${line}\n`));
            return;
          }
          continue;
        }
        if (pending.length > MAX_LINE_BYTES) {
          await reader.cancel();
          controller.close();
          return;
        }
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        pending += decoder.decode(value, { stream: true });
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Reads a whole body up to `limit` bytes; undefined when it is longer (the caller fails closed). */
export async function readUpTo(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | undefined> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return joinBytes(chunks, total);
}
