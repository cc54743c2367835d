/**
 * An in-memory dockerd for the API tests: /info, and containers (list, inspect, create, start, stop,
 * remove) by id or name, with every call recorded (method, path, headers, body).
 */
import type { EngineAnswer } from "../../../src/docker/engine-client.ts";

export interface FakeContainer {
  Id: string;
  Name: string;
  Created: string;
  Config: {
    Image: string;
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    Labels: Record<string, string>;
  };
  HostConfig: { Privileged: boolean; Binds: string[]; RestartPolicy: { Name: string } };
  State: { Status: string; Running: boolean; ExitCode: number; StartedAt: string; FinishedAt: string };
}

export interface SentCall {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export class FakeDocker {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: SentCall[] = [];
  info: unknown;
  /** Thrown by the next calls when set (dockerd unreachable). */
  failure: Error | undefined;
  #n = 0;

  constructor(info: unknown) {
    this.info = info;
  }

  #find(ref: string): FakeContainer | undefined {
    return this.containers.get(ref) ?? [...this.containers.values()].find((c) => c.Name === `/${ref}`);
  }

  /** Adds a container as if created outside the API (labels as given). */
  add(name: string, labels: Record<string, string>, running = false): FakeContainer {
    const id = (++this.#n).toString(16).padStart(64, "c");
    const c: FakeContainer = {
      Id: id,
      Name: `/${name}`,
      Created: "2026-06-01T09:00:00.000000000Z",
      Config: {
        Image: "tiny:latest",
        Env: ["PATH=/bin"],
        Cmd: ["sleep", "1d"],
        Entrypoint: null,
        WorkingDir: "",
        Labels: labels,
      },
      HostConfig: { Privileged: false, Binds: [], RestartPolicy: { Name: "no" } },
      State: {
        Status: running ? "running" : "created",
        Running: running,
        ExitCode: 0,
        StartedAt: "0001-01-01T00:00:00Z",
        FinishedAt: "0001-01-01T00:00:00Z",
      },
    };
    this.containers.set(id, c);
    return c;
  }

  getJson = (path: string, headers: Readonly<Record<string, string>> = {}): Promise<unknown> => {
    this.calls.push({ method: "GET", path, headers: { ...headers } });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.info instanceof Error) return Promise.reject(this.info);
    return Promise.resolve(this.info);
  };

  send = (
    method: string,
    path: string,
    options: { body?: unknown; headers?: Readonly<Record<string, string>> } = {},
  ): Promise<EngineAnswer> => {
    this.calls.push({
      method,
      path,
      headers: { ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const creating = method === "POST" && path.startsWith("/containers/create");
    if (creating && this.holdCreates !== undefined) {
      const hold = this.holdCreates;
      return hold.then(() => this.#answer(method, path, options.body));
    }
    return Promise.resolve(this.#answer(method, path, options.body));
  };
  /** While set, container creates wait for it (long work caught in the middle). */
  holdCreates: Promise<void> | undefined;

  #answer(method: string, path: string, body: unknown): EngineAnswer {
    const url = new URL(path, "http://d");
    const p = url.pathname;
    if (method === "GET" && p === "/containers/json") {
      return {
        status: 200,
        body: [...this.containers.values()].map((c) => ({
          Id: c.Id,
          Names: [c.Name],
          Image: c.Config.Image,
          State: c.State.Status,
          Status: c.State.Running
            ? "Up 1 second"
            : c.State.Status === "exited"
            ? `Exited (${c.State.ExitCode}) 1 second ago`
            : "Created",
          Labels: c.Config.Labels,
          Created: 1780304400,
          Command: (c.Config.Cmd ?? []).join(" "),
        })),
      };
    }
    if (method === "POST" && p === "/containers/create") {
      const name = url.searchParams.get("name") ?? "";
      if (this.#find(name) !== undefined) {
        return {
          status: 409,
          body: { message: `Conflict. The container name "/${name}" is already in use` },
        };
      }
      const b = body as Record<string, unknown>;
      // dockerd's answer for an image the host does not have.
      if (String(b["Image"]).startsWith("missing")) {
        return { status: 404, body: { message: `No such image: ${String(b["Image"])}` } };
      }
      const c = this.add(name, (b["Labels"] ?? {}) as Record<string, string>);
      c.Config.Image = String(b["Image"]);
      c.Config.Env = (b["Env"] ?? []) as string[];
      c.Config.Cmd = (b["Cmd"] ?? null) as string[] | null;
      c.Config.Entrypoint = (b["Entrypoint"] ?? null) as string[] | null;
      const host = (b["HostConfig"] ?? {}) as Record<string, unknown>;
      c.HostConfig.Privileged = host["Privileged"] === true;
      return { status: 201, body: { Id: c.Id, Warnings: [] } };
    }
    const m = /^\/containers\/([^/]+)(\/json|\/start|\/stop)?$/.exec(p);
    const c = m === null ? undefined : this.#find(m[1]!);
    if (m === null || c === undefined) return { status: 404, body: { message: "No such container" } };
    const verb = m[2];
    if (method === "GET" && verb === "/json") return { status: 200, body: structuredClone(c) };
    if (method === "POST" && verb === "/start") {
      if (c.State.Running) return { status: 304, body: undefined };
      c.State = { ...c.State, Status: "running", Running: true, StartedAt: "2026-06-01T10:00:00Z" };
      return { status: 204, body: undefined };
    }
    if (method === "POST" && verb === "/stop") {
      if (!c.State.Running) return { status: 304, body: undefined };
      c.State = {
        ...c.State,
        Status: "exited",
        Running: false,
        ExitCode: 137,
        FinishedAt: "2026-06-01T10:01:00Z",
      };
      return { status: 204, body: undefined };
    }
    if (method === "DELETE" && verb === undefined) {
      this.containers.delete(c.Id);
      return { status: 204, body: undefined };
    }
    return { status: 404, body: { message: "page not found" } };
  }
}
