/**
 * Platform.readStdin on either runtime: the process's stdin stream, opened on the first read. Leaving the
 * loop cancels the reader, which settles a read still pending (a terminal nobody types into), so a command
 * that stops listening (`agent container exec` once the remote command has exited) lets the process end.
 */
export function stdinChunks(open: () => ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      let done = false;
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          if (done) return { done: true, value: undefined };
          reader ??= open().getReader();
          const read = await reader.read();
          if (read.done || done) {
            done = true;
            return { done: true, value: undefined };
          }
          return { done: false, value: read.value };
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          done = true;
          await reader?.cancel().catch(() => undefined);
          return { done: true, value: undefined };
        },
      };
    },
  };
}
