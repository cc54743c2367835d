/** `container_id` and `image_id`: full 64-hex Docker ids (images normalised to "sha256:<hex>"). */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";

export interface ContainerIdCaveat {
  readonly name: "container_id";
  /** 64 lowercase hex digits. */
  readonly id: string;
}

export interface ImageIdCaveat {
  readonly name: "image_id";
  /** "sha256:" followed by 64 lowercase hex digits. */
  readonly id: string;
}

const FULL_ID = /^[0-9a-f]{64}$/;

export function parseContainerId(value: string): ContainerIdCaveat {
  if (!FULL_ID.test(value)) {
    throw new AgentError(
      "ERR_MACAROON_CAVEAT",
      `invalid container_id ${quotePredicate(value)}: expected the full 64-hex container id`,
    );
  }
  return { name: "container_id", id: value };
}

export function parseImageId(value: string): ImageIdCaveat {
  const hex = value.startsWith("sha256:") ? value.slice(7) : value;
  if (!FULL_ID.test(hex)) {
    throw new AgentError(
      "ERR_MACAROON_CAVEAT",
      `invalid image_id ${quotePredicate(value)}: expected sha256:<64 hex> or the full 64-hex image id`,
    );
  }
  return { name: "image_id", id: `sha256:${hex}` };
}
