/** What the CA's operations need from outside: files, time, randomness and where the CA lives. */
import type { Clock, FileSystem, RandomBytes } from "../ports.ts";

export interface CaContext {
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly random: RandomBytes;
  /** The CA directory (`stateLayout(root).caDir`). */
  readonly caDir: string;
}
