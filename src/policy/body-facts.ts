/**
 * What a request body asks for, read the way dockerd reads it. Every fact lists all the values a field could
 * take (case-insensitive key collisions give several), whether the body was unreadable for it (`unknown`: no
 * body, wrong shape or types dockerd would reject), and whether several keys competed for one field
 * (`ambiguous`). Conditions turn a fact into a match the way that denies (see conditions.ts).
 */
import { fieldValues, foldsTo, isObject } from "./go-json.ts";
import { imageForms } from "./image-reference.ts";

export interface Fact<T> {
  readonly values: readonly T[];
  readonly unknown: boolean;
  readonly ambiguous: boolean;
}

class Collector<T> {
  readonly values: T[] = [];
  unknown = false;
  ambiguous = false;

  absorb(other: Fact<T>): void {
    for (const v of other.values) this.values.push(v);
    this.unknown ||= other.unknown;
    this.ambiguous ||= other.ambiguous;
  }
}

const UNREADABLE: Fact<never> = Object.freeze({ values: [], unknown: true, ambiguous: false });

/** A named volume (Binds "name:/dst"): anything else with a colon is a host path to dockerd. */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Lexical clean of an absolute path, like Go's path.Clean ("/var/run/../run//x/" -> "/var/run/x"). */
export function cleanPath(path: string): string {
  if (!path.startsWith("/")) return path;
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** Host source of one HostConfig.Binds entry: a string, null when not from the host, undefined when invalid. */
function bindSource(spec: string): string | null | undefined {
  const parts = spec.split(":");
  if (parts.length === 1) return null; // "/data" alone is an anonymous volume mounted at /data
  if (parts.length > 3) return undefined;
  const source = parts[0] as string;
  if (source === "") return undefined;
  if (VOLUME_NAME.test(source)) return null;
  return cleanPath(source);
}

/** The local volume driver's `device` option turns a volume into a bind of that host path. */
function addDeviceOptions(options: unknown, out: Collector<string>): void {
  if (!isObject(options)) {
    out.unknown = true;
    return;
  }
  for (const key in options) {
    if (!Object.hasOwn(options, key) || !foldsTo(key, "DEVICE")) continue;
    const value = options[key];
    if (typeof value === "string") out.values.push(cleanPath(value));
    else if (value !== null) out.unknown = true;
  }
}

function addMountSources(mount: unknown, out: Collector<string>): void {
  if (!isObject(mount)) {
    out.unknown = true;
    return;
  }
  const types = fieldValues(mount, "TYPE");
  if (types.length === 0) out.unknown = true; // dockerd rejects a mount without a type
  if (types.length > 1) out.ambiguous = true;
  for (const type of types) {
    if (typeof type !== "string") {
      out.unknown = true;
      continue;
    }
    const kind = type.toLowerCase();
    if (kind === "bind") {
      const sources = fieldValues(mount, "SOURCE");
      if (sources.length === 0) out.unknown = true;
      if (sources.length > 1) out.ambiguous = true;
      for (const source of sources) {
        if (typeof source === "string" && source !== "") out.values.push(cleanPath(source));
        else out.unknown = true;
      }
    } else if (kind === "volume") {
      for (const volumeOptions of fieldValues(mount, "VOLUMEOPTIONS")) {
        if (!isObject(volumeOptions)) {
          out.unknown = true;
          continue;
        }
        for (const driver of fieldValues(volumeOptions, "DRIVERCONFIG")) {
          if (!isObject(driver)) {
            out.unknown = true;
            continue;
          }
          for (const options of fieldValues(driver, "OPTIONS")) addDeviceOptions(options, out);
        }
      }
    }
  }
}

function normalizeCapability(cap: string): string {
  const upper = cap.toUpperCase();
  return upper.startsWith("CAP_") ? upper.slice(4) : upper;
}

/** SecurityOpt entries (normalised "key=value") that switch off a confinement layer. */
export function disablesConfinement(option: string): boolean {
  const eq = option.indexOf("=");
  const key = option.slice(0, eq).toLowerCase();
  const value = option.slice(eq + 1).toLowerCase();
  switch (key) {
    case "seccomp":
      // A custom profile arrives inline as JSON and may allow every syscall: only the built-in one confines.
      return value !== "builtin";
    case "apparmor":
    case "systempaths":
      return value === "unconfined";
    case "label":
      return value === "disable" || value.startsWith("type:spc_t");
    case "writable-cgroups":
      return value === "true";
    default:
      return false;
  }
}

/** SecurityOpt entries as "key=value" (dockerd also takes "key:value", "disable" and "no-new-privileges"). */
function normalizeSecurityOpt(opt: string): string | undefined {
  if (opt === "no-new-privileges") return "no-new-privileges=true";
  if (opt === "disable") return "label=disable";
  if (opt.includes("=")) return opt;
  const colon = opt.indexOf(":");
  if (colon >= 0) return `${opt.slice(0, colon)}=${opt.slice(colon + 1)}`;
  return undefined;
}

/**
 * Facts about one request body, computed on first use and kept for the rest of the evaluation.
 * `action` decides where fields live: container:create reads HostConfig (and, for dockerd 20.10, the same
 * fields at the top level, which it still accepts when no HostConfig key is present); container:update,
 * container:exec and volume:create read the top level.
 */
export class BodyFacts {
  // Explicit memo fields rather than a Map of closures: this runs on every container:create.
  private sources: Fact<Record<string, unknown>> | undefined;
  private privilegedFact: Fact<boolean> | undefined;
  private mountsFact: Fact<string> | undefined;
  private capsFact: Fact<string> | undefined;
  private devicesFact: Fact<unknown> | undefined;
  private securityFact: Fact<string> | undefined;
  private imageFact: Fact<string> | undefined;
  private imageFormsFact: Fact<readonly string[]> | undefined;
  private userFact: Fact<string> | undefined;
  private modes: Record<string, Fact<string>> | undefined;
  private unconfined: boolean | undefined;

  constructor(readonly action: string, private readonly body: unknown) {}

  /** Does some security option switch a confinement layer off? (computed once per request) */
  disablesConfinement(): boolean {
    return this.unconfined ??= this.securityOptions().values.some(disablesConfinement);
  }

  /** The objects a HostConfig field can come from. */
  private hostSources(): Fact<Record<string, unknown>> {
    if (this.sources !== undefined) return this.sources;
    const out = new Collector<Record<string, unknown>>();
    const body = this.body;
    if (!isObject(body)) {
      out.unknown = true;
    } else if (this.action === "container:create") {
      const configs = fieldValues(body, "HOSTCONFIG");
      out.ambiguous = configs.length > 1;
      for (const config of configs) {
        if (isObject(config)) out.values.push(config);
        else out.unknown = true;
      }
      out.values.push(body);
    } else {
      out.values.push(body);
    }
    this.sources = out;
    return out;
  }

  /** Raw values of a HostConfig field across its sources. */
  private raw(field: string): Fact<unknown> {
    const sources = this.hostSources();
    const out = new Collector<unknown>();
    out.unknown = sources.unknown;
    out.ambiguous = sources.ambiguous;
    for (const source of sources.values) {
      for (const value of fieldValues(source, field)) out.values.push(value);
    }
    if (out.values.length > 1) out.ambiguous = true;
    return out;
  }

  private scalars<T>(field: string, type: "boolean" | "string", zero: T): Fact<T> {
    const raw = this.raw(field);
    const out = new Collector<T>();
    out.unknown = raw.unknown;
    out.ambiguous = raw.ambiguous;
    for (const value of raw.values) {
      if (type === "boolean" ? typeof value === "boolean" : typeof value === "string") {
        out.values.push(value as T);
      } else out.unknown = true;
    }
    if (raw.values.length === 0 && !raw.unknown) out.values.push(zero);
    return out;
  }

  /** Items of list fields, united across candidates (exact for "some item" and "every item" tests). */
  private items(field: string, stringsOnly: boolean): Fact<unknown> {
    const raw = this.raw(field);
    const out = new Collector<unknown>();
    out.unknown = raw.unknown;
    out.ambiguous = raw.ambiguous;
    for (const value of raw.values) {
      if (!Array.isArray(value)) {
        out.unknown = true;
        continue;
      }
      for (const item of value) {
        if (stringsOnly && typeof item !== "string") out.unknown = true;
        else out.values.push(item);
      }
    }
    return out;
  }

  private strings(field: string): Fact<string> {
    return this.items(field, true) as Fact<string>;
  }

  privileged(): Fact<boolean> {
    return this.privilegedFact ??= this.scalars("PRIVILEGED", "boolean", false);
  }

  /** Host paths the request would mount: binds, bind mounts, and volumes backed by a host `device`. */
  hostMountSources(): Fact<string> {
    return this.mountsFact ??= this.readHostMountSources();
  }

  private readHostMountSources(): Fact<string> {
    const out = new Collector<string>();
    if (this.action === "volume:create") {
      if (!isObject(this.body)) return UNREADABLE;
      const options = fieldValues(this.body, "DRIVEROPTS");
      out.ambiguous = options.length > 1;
      for (const o of options) addDeviceOptions(o, out);
      return out;
    }
    const binds = this.strings("BINDS");
    out.unknown = binds.unknown;
    out.ambiguous = binds.ambiguous;
    for (const spec of binds.values) {
      const source = bindSource(spec);
      if (source === undefined) out.unknown = true;
      else if (source !== null) out.values.push(source);
    }
    const mounts = this.items("MOUNTS", false);
    out.unknown ||= mounts.unknown;
    out.ambiguous ||= mounts.ambiguous;
    for (const mount of mounts.values) addMountSources(mount, out);
    // VolumesFrom copies another container's mounts, which the policy cannot see: treat as unknown.
    const from = this.strings("VOLUMESFROM");
    if (from.unknown || from.values.length > 0) out.unknown = true;
    return out;
  }

  /** Added capabilities (CapAdd, and the full-set `Capabilities` of API 1.40), upper-case without CAP_. */
  addedCapabilities(): Fact<string> {
    if (this.capsFact !== undefined) return this.capsFact;
    const out = new Collector<string>();
    for (const field of ["CAPADD", "CAPABILITIES"]) {
      const list = this.strings(field);
      out.unknown ||= list.unknown;
      out.ambiguous ||= list.ambiguous;
      for (const cap of list.values) out.values.push(normalizeCapability(cap));
    }
    return this.capsFact = out;
  }

  /** One entry per device mapping, device request (GPUs) or device cgroup rule. */
  devices(): Fact<unknown> {
    if (this.devicesFact !== undefined) return this.devicesFact;
    const out = new Collector<unknown>();
    out.absorb(this.items("DEVICES", false));
    out.absorb(this.items("DEVICEREQUESTS", false));
    out.absorb(this.strings("DEVICECGROUPRULES"));
    return this.devicesFact = out;
  }

  securityOptions(): Fact<string> {
    if (this.securityFact !== undefined) return this.securityFact;
    const list = this.strings("SECURITYOPT");
    const out = new Collector<string>();
    out.unknown = list.unknown;
    out.ambiguous = list.ambiguous;
    for (const opt of list.values) {
      const normalized = normalizeSecurityOpt(opt);
      if (normalized === undefined) out.unknown = true;
      else out.values.push(normalized);
    }
    return this.securityFact = out;
  }

  /** A namespace mode field (NETWORKMODE, PIDMODE, ...); an empty NetworkMode is "default", as dockerd sets. */
  mode(field: string): Fact<string> {
    this.modes ??= {};
    const hit = this.modes[field];
    if (hit !== undefined) return hit;
    let fact = this.scalars<string>(field, "string", "");
    if (field === "NETWORKMODE" && fact.values.includes("")) {
      fact = { ...fact, values: fact.values.map((v) => (v === "" ? "default" : v)) };
    }
    return this.modes[field] = fact;
  }

  /** Image of container:create; a missing or empty image is unknown. */
  image(): Fact<string> {
    return this.imageFact ??= this.topLevelName("IMAGE");
  }

  /** Each candidate image with its spellings (see image-reference.ts), computed once. */
  imageSpellings(): Fact<readonly string[]> {
    if (this.imageFormsFact !== undefined) return this.imageFormsFact;
    const image = this.image();
    return this.imageFormsFact = { ...image, values: image.values.map(imageForms) };
  }

  /** User of container:exec; a missing or empty user (the container's own user) is unknown. */
  execUser(): Fact<string> {
    return this.userFact ??= this.topLevelName("USER");
  }

  private topLevelName(field: "IMAGE" | "USER"): Fact<string> {
    if (!isObject(this.body)) return UNREADABLE;
    const out = new Collector<string>();
    const values = fieldValues(this.body, field);
    if (values.length === 0) out.unknown = true;
    if (values.length > 1) out.ambiguous = true;
    for (const value of values) {
      if (typeof value === "string" && value !== "") out.values.push(value);
      else out.unknown = true;
    }
    return out;
  }
}
