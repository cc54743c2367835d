/**
 * A node readable (an IncomingMessage, a socket) as a web ReadableStream, read only as fast as the reader
 * asks: the source is paused while the stream's queue is full and resumed when the reader pulls. An end
 * closes the stream; an error, or a close before the end, errors it with `broken()`.
 */
import type { Readable } from "node:stream";

/** What the stream queues before its source is paused. */
const HIGH_WATER_BYTES = 256 * 1024;

export interface WebStreamOptions {
  /** Bytes that came before the source's own (what followed a request head). */
  readonly first?: Uint8Array;
  /**
   * Paused and resumed with the source: the socket under a request (pausing the IncomingMessage alone does
   * not stop Bun reading it).
   */
  readonly under?: Readable;
  /** The error a break is reported as. */
  readonly broken: (cause?: Error) => Error;
  /** What the reader's cancel does to the source. */
  readonly cancel: () => void;
}

export function webStreamOf(source: Readable, options: WebStreamOptions): ReadableStream<Uint8Array> {
  const { under } = options;
  let finished = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (options.first !== undefined && options.first.length > 0) controller.enqueue(options.first);
      source.on("data", (chunk: Uint8Array) => {
        if (finished) return;
        // A plain Uint8Array view of node's Buffer.
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) {
          source.pause();
          under?.pause();
        }
      });
      source.once("end", () => {
        if (finished) return;
        finished = true;
        controller.close();
      });
      const broke = (cause?: Error) => {
        if (finished) return;
        finished = true;
        controller.error(options.broken(cause));
      };
      source.once("error", broke);
      source.once("close", () => broke());
    },
    pull() {
      if (source.isPaused()) source.resume();
      if (under?.isPaused()) under.resume();
    },
    cancel() {
      finished = true;
      options.cancel();
    },
  }, { highWaterMark: HIGH_WATER_BYTES, size: (chunk) => chunk?.byteLength ?? 0 });
}
