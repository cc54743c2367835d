/**
 * A hijacked stream (attach, exec start, `docker run -it`) between the client and dockerd, bytes both ways.
 * Half-close is forwarded, not taken for the end: the docker CLI closes its side as soon as stdin ends (at
 * once for `docker exec` without -i) and still reads the output, so the client's EOF becomes dockerd's
 * (the process sees stdin end) while dockerd's output keeps flowing. dockerd's EOF (the process exited)
 * ends the client's side; a broken connection on either end closes both.
 */
import type { ByteStream } from "../ports.ts";

/** Copies `from` into `to`, awaiting each write (backpressure); resolves at `from`'s end. */
async function pump(from: ReadableStream<Uint8Array>, to: ByteStream): Promise<void> {
  const reader = from.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      await to.write(value);
    }
  } finally {
    reader.releaseLock();
  }
}

/** Joins the two ends; resolves once both directions are over (and both ends are closed). */
export async function splice(client: ByteStream, daemon: ByteStream): Promise<void> {
  const breakBoth = () => {
    client.close();
    daemon.close();
  };
  const up = pump(client.output, daemon).then(() => daemon.closeWrite(), breakBoth);
  const down = pump(daemon.output, client).then(() => {
    client.closeWrite();
    daemon.close();
  }, breakBoth);
  await Promise.all([up, down]);
}
