/**
 * Install and uninstall as a list of steps: planned from what is on disk (pure), then either printed
 * (`--dry-run`) or carried out in order. The same text describes both, so a dry run shows exactly what a
 * real run does.
 */
import type { FileSystem } from "../ports.ts";

export type Step =
  | { readonly kind: "mkdir"; readonly path: string; readonly mode: number; readonly why: string }
  | { readonly kind: "chmod"; readonly path: string; readonly mode: number; readonly why: string }
  | {
    readonly kind: "write";
    readonly path: string;
    readonly mode: number;
    readonly data: string | Uint8Array;
    readonly why: string;
  }
  | { readonly kind: "remove"; readonly path: string; readonly why: string }
  | { readonly kind: "remove-tree"; readonly path: string; readonly why: string }
  /** Nothing to do, said out loud (a kept policy, an unchanged binary). */
  | { readonly kind: "keep"; readonly path: string; readonly why: string };

function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

function size(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data).length : data.length;
  if (bytes < 1024 * 1024) return `${bytes} bytes`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** One line per step, e.g. "write  /usr/local/bin/agent (0755, 104.6 MiB): the agent executable". */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case "mkdir":
    case "chmod":
      return `${step.kind.padEnd(6)} ${step.path} (${octal(step.mode)}): ${step.why}`;
    case "write":
      return `write  ${step.path} (${octal(step.mode)}, ${size(step.data)}): ${step.why}`;
    case "remove":
      return `remove ${step.path}: ${step.why}`;
    case "remove-tree":
      return `remove ${step.path} and everything in it: ${step.why}`;
    case "keep":
      return `keep   ${step.path}: ${step.why}`;
  }
}

/** Carries out the steps in order, reporting each one after it is done. Every write is atomic. */
export async function applySteps(
  fs: FileSystem,
  steps: readonly Step[],
  done: (step: Step) => void,
): Promise<void> {
  for (const step of steps) {
    switch (step.kind) {
      case "mkdir":
        await fs.mkdir(step.path, step.mode);
        break;
      case "chmod":
        await fs.chmod(step.path, step.mode);
        break;
      case "write":
        await fs.writeAtomic(step.path, step.data, step.mode);
        break;
      case "remove":
        await fs.remove(step.path);
        break;
      case "remove-tree":
        await fs.removeTree(step.path);
        break;
      case "keep":
        break;
    }
    done(step);
  }
}
