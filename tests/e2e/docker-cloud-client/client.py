#!/usr/bin/env python3
"""A Docker Cloud API client that knows only Docker Cloud's documentation, written with Python 3's standard
library (no pip), for the e2e test tests/e2e/api-docker-cloud-client.e2e.test.ts.

It behaves as Docker Cloud's Python SDK (docker/python-dockercloud, dockercloud/api/{http,base,auth,utils}.py)
and CLI (docker/dockercloud-cli) did, and as the API reference describes (docker/docs,
apidocs/cloud-api-source/source/index.md and includes/{service,container,action,_errors}.md):

- configuration from the environment: DOCKERCLOUD_REST_HOST (default https://cloud.docker.com/),
  DOCKERCLOUD_AUTH (the whole Authorization header value; it wins), else DOCKERCLOUD_USER and
  DOCKERCLOUD_APIKEY (Basic), DOCKERCLOUD_NAMESPACE (put before the resource in every namespaced path);
  REQUESTS_CA_BUNDLE (what the SDK's `requests` reads) or SSL_CERT_FILE names the CA to trust;
- URLs are /api/<subsystem>/v1/[namespace/]<resource>/[uuid/[verb/]], always with a trailing slash; the
  query string is sent apart from the path;
- every request carries Content-Type: application/json, Accept: application/json, a User-Agent ending in
  python-dockercloud/1.0.12, and the Authorization header; one keep-alive connection is reused (the SDK's
  requests.Session);
- lists are {"meta": {...}, "objects": [...]}, paged with limit/offset until meta.next is null;
- an object is addressed by its uuid (fetch) or its resource_uri (refresh, delete, verbs are
  resource_uri + "start/" ...);
- a mutating answer names its action in X-DockerCloud-Action-URI; the CLI's --sync fetched that action the
  SDK's way (Utils.fetch_by_resource_uri: the last path segment is the uuid of an Action, which is not a
  namespaced endpoint: /api/audit/v1/action/<uuid>/) until it was Success or Failed;
- 401 is the SDK's AuthError, any other status outside 2xx an ApiError carrying the body.

Usage: client.py flow --image IMAGE [--prefix NAME]   the whole service life cycle (see `flow`)
       client.py whoami                               the service and action lists of this identity

It prints one JSON report on stdout (exit 0). When it cannot go on as the SDK would (an answer the SDK could
not use), it prints what it has so far on stdout, one line "docker-cloud-client: ..." on stderr, and exits 1.
"""

import argparse
import base64
import datetime
import gzip
import http.client
import json
import os
import re
import ssl
import sys
import time
import urllib.parse
import uuid as uuidlib
import zlib

SDK_VERSION = "1.0.12"
USER_AGENT = "agent-e2e-docker-cloud-client python-dockercloud/%s" % SDK_VERSION
# dockercloud-cli utils.from_utc_string_to_utc_datetime: how the CLI reads every *_datetime and *_date.
CLI_DATE_FORMAT = "%a, %d %b %Y %H:%M:%S +0000"
# python-dockercloud utils.is_uuid4: whether an identifier is fetched as a uuid or looked up by a list.
UUID4 = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$", re.I)
# The attributes the CLI's `service ps` and `container ps` read (dockercloud-cli commands.py).
CLI_SERVICE_PS = ["name", "uuid", "state", "synchronized", "current_num_containers", "image_name",
                  "deployed_datetime", "public_dns", "stack"]
CLI_CONTAINER_PS = ["name", "uuid", "state", "image_name", "run_command", "exit_code", "deployed_datetime",
                    "container_ports", "public_dns", "node", "service"]
# The attribute tables of the API reference (includes/action.md).
ACTION_ATTRIBUTES = ["resource_uri", "uuid", "object", "action", "method", "path", "user", "user_agent",
                     "start_date", "end_date", "state", "ip", "location", "is_user_action", "can_be_canceled",
                     "can_be_retried"]
META_FIELDS = ["limit", "offset", "next", "previous", "total_count"]
POLL_ATTEMPTS = 240
POLL_PAUSE_SECONDS = 0.25


class ClientFailure(Exception):
    """The SDK could not go on: the step and why."""


class ApiError(Exception):
    def __init__(self, reply):
        super().__init__("Status %s (%s %s). Response: %s" % (reply["status"], reply["method"], reply["path"],
                                                              reply["text"][:500]))
        self.reply = reply


class AuthError(ApiError):
    pass


class Api:
    """One identity against one REST host, configured from DOCKERCLOUD_* as the SDK is."""

    def __init__(self, env):
        self.rest_host = env.get("DOCKERCLOUD_REST_HOST") or "https://cloud.docker.com/"
        self.namespace = env.get("DOCKERCLOUD_NAMESPACE") or ""
        user = env.get("DOCKERCLOUD_USER")
        apikey = env.get("DOCKERCLOUD_APIKEY")
        if env.get("DOCKERCLOUD_AUTH"):
            self.authorization = env["DOCKERCLOUD_AUTH"]
            self.auth_from = "DOCKERCLOUD_AUTH"
        elif user and apikey:
            token = base64.b64encode(("%s:%s" % (user, apikey)).encode("utf-8")).decode("ascii")
            self.authorization = "Basic %s" % token
            self.auth_from = "DOCKERCLOUD_USER/DOCKERCLOUD_APIKEY"
        else:
            self.authorization = None
            self.auth_from = None
        base = urllib.parse.urlsplit(self.rest_host)
        if base.scheme != "https" or not base.hostname:
            raise ClientFailure("DOCKERCLOUD_REST_HOST must be an https:// URL, not %r" % self.rest_host)
        self.host = base.hostname
        self.port = base.port or 443
        cafile = env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE") or None
        self.context = ssl.create_default_context(cafile=cafile)
        self.connection = None
        self.exchanges = 0

    # ------------------------------------------------------------------ the wire

    def _connect(self):
        if self.connection is not None:
            self.connection.close()
        self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)

    def request(self, method, path, params=None, body=None):
        """One exchange; the reply whatever its status. `path` is joined to the host as the SDK joins it."""
        path = "/" + path.strip("/")
        if not path.endswith("/"):
            path += "/"
        query = urllib.parse.urlencode([(k, v) for k, v in (params or {}).items() if v is not None])
        target = path + ("?" + query if query else "")
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        data = None if body is None else json.dumps(body).encode("utf-8")
        if data is None and method not in ("GET", "HEAD"):
            data = b""  # requests sends Content-Length: 0 on a bodiless POST, PATCH or DELETE
        for attempt in (1, 2):
            if self.connection is None:
                self._connect()
            try:
                self.connection.request(method, target, body=data, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the kept-alive connection between two calls: a new one, as urllib3 does.
                self.connection = None
                if attempt == 2:
                    raise
        self.exchanges += 1
        encoding = (response.getheader("Content-Encoding") or "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        return {
            "method": method,
            "path": path,
            "query": query,
            "status": response.status,
            "content_type": response.getheader("Content-Type"),
            "action_uri": response.getheader("X-DockerCloud-Action-URI"),
            "json": parsed,
            "text": text,
        }

    def send(self, method, path, params=None, body=None):
        """As the SDK's send_request: the parsed body of a 2xx (None for 204), AuthError or ApiError."""
        reply = self.request(method, path, params, body)
        status = reply["status"]
        if status == 401:
            raise AuthError(reply)
        if not 200 <= status <= 299:
            raise ApiError(reply)
        if status == 204:
            return reply, None
        if not isinstance(reply["json"], dict):
            raise ClientFailure("%s %s answered %s with a body that is not a JSON object: %r"
                                % (method, path, status, reply["text"][:200]))
        obj = dict(reply["json"])
        obj["dockercloud_action_uri"] = reply["action_uri"] or ""
        return reply, obj

    # ------------------------------------------------------------------ paths

    def collection(self, subsystem, resource, namespaced=True):
        parts = ["api", subsystem, "v1"]
        if namespaced and self.namespace:
            parts.append(self.namespace)
        parts.append(resource)
        return "/".join(parts)

    def item(self, subsystem, resource, pk, namespaced=True):
        return "%s/%s" % (self.collection(subsystem, resource, namespaced), pk)

    # ------------------------------------------------------------------ the SDK's calls

    def list(self, subsystem, resource, namespaced=True, **filters):
        """Every object of a list: pages of meta.limit, following meta.next until it is null."""
        path = self.collection(subsystem, resource, namespaced)
        params = dict(filters)
        pages = []
        objects = []
        while True:
            reply, body = self.send("GET", path, params)
            meta = body.get("meta")
            page_objects = body.get("objects")
            if not isinstance(meta, dict) or not isinstance(page_objects, list):
                raise ClientFailure("GET %s is not a list {meta, objects}: %r" % (path, reply["text"][:200]))
            pages.append({"query": reply["query"], "meta": meta, "content_type": reply["content_type"],
                          "names": [o.get("name") for o in page_objects]})
            objects.extend(page_objects)
            if not meta.get("next"):
                break
            if len(pages) > 100:
                raise ClientFailure("GET %s: meta.next never ends" % path)
            # The SDK asks for the next page itself: offset + limit, the same limit.
            params["offset"] = meta.get("offset", 0) + meta.get("limit", 0)
            params["limit"] = meta.get("limit", 0)
            # ... which is the page meta.next names.
            pages[-1]["next_query"] = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(meta["next"]).query))
        return pages, objects

    def fetch(self, subsystem, resource, pk, namespaced=True):
        return self.send("GET", self.item(subsystem, resource, pk, namespaced))

    def refresh(self, obj):
        return self.send("GET", obj["resource_uri"])

    def save_new(self, subsystem, resource, fields):
        return self.send("POST", self.collection(subsystem, resource), body=fields)

    def perform(self, obj, verb):
        return self.send("POST", "/".join([obj["resource_uri"].rstrip("/"), verb]))

    def delete(self, obj):
        return self.send("DELETE", obj["resource_uri"])

    def fetch_by_resource_uri(self, uri):
        """dockercloud Utils.fetch_by_resource_uri: the type and the uuid are the last two segments."""
        terms = uri.strip("/").split("/")
        kind, pk = terms[-2], terms[-1]
        if kind == "action":
            return self.fetch("audit", "action", pk, namespaced=False)
        if kind in ("service", "container"):
            return self.fetch("app", kind, pk)
        raise ClientFailure("unsupported resource type in %r" % uri)


# ---------------------------------------------------------------------- checks the report carries

def cli_dates(obj, names):
    """Each date the CLI would show, and whether its strptime reads it."""
    out = {}
    for name in names:
        value = obj.get(name)
        if value is None:
            continue
        try:
            datetime.datetime.strptime(value, CLI_DATE_FORMAT)
            out[name] = {"value": value, "parsed": True}
        except (TypeError, ValueError):
            out[name] = {"value": value, "parsed": False}
    return out


def missing(obj, names):
    return [n for n in names if n not in obj]


def exchange(reply):
    """What the report keeps of one exchange."""
    return {
        "method": reply["method"],
        "path": reply["path"],
        "query": reply["query"],
        "status": reply["status"],
        "content_type": reply["content_type"],
        "action_uri": reply["action_uri"],
        "body": reply["json"] if reply["json"] is not None else reply["text"][:500],
    }


def poll(api, obj, until, step):
    """Refreshes obj until its state is one of `until` (the CLI polled this way, without --sync timing)."""
    seen = []
    for _ in range(POLL_ATTEMPTS):
        _, obj = api.refresh(obj)
        if not seen or seen[-1] != obj.get("state"):
            seen.append(obj.get("state"))
        if obj.get("state") in until:
            return obj, seen
        time.sleep(POLL_PAUSE_SECONDS)
    raise ClientFailure("%s: %s never reached %s (states seen: %s)" % (step, obj.get("resource_uri"),
                                                                     "/".join(until), seen))


def sync_action(api, uri):
    """The CLI's --sync: fetch the action by its resource URI the SDK's way until Success or Failed."""
    states = []
    # Utils.fetch_by_resource_uri(uri) -> Action.fetch(uuid): the uuid under the non-namespaced action path.
    path = api.item("audit", "action", uri.strip("/").split("/")[-1], namespaced=False)
    for _ in range(POLL_ATTEMPTS):
        reply = api.request("GET", path)
        if reply["status"] != 200:
            return {"reply": exchange(reply), "states": states, "finished": False}
        state = (reply["json"] or {}).get("state")
        if not states or states[-1] != state:
            states.append(state)
        if state in ("Success", "Failed"):
            return {"reply": exchange(reply), "states": states, "finished": True}
        time.sleep(POLL_PAUSE_SECONDS)
    return {"reply": None, "states": states, "finished": False}


# ---------------------------------------------------------------------- the flows

def flow(api, image, prefix, report):
    steps = report["steps"]
    web_name, db_name = "%s-web" % prefix, "%s-db" % prefix

    pages, objects = api.list("app", "service")
    steps["list_before"] = {"pages": pages, "names": [o.get("name") for o in objects]}

    # Service.create(image=..., name=..., target_num_containers=2, ...).save(): a POST of the set fields.
    fields = {
        "image": image,
        "name": web_name,
        "target_num_containers": 2,
        "run_command": "sleep 3600",
        "container_envvars": [{"key": "GREETING", "value": "hello from the SDK"}],
    }
    try:
        reply, web = api.save_new("app", "service", fields)
    except ApiError as err:
        raise ClientFailure("create: %s" % err)
    steps["create"] = {"sent": fields, "reply": exchange(reply), "object": web}
    try:
        reply, db = api.save_new("app", "service", {"image": image, "name": db_name, "run_command": "sleep 3600"})
    except ApiError as err:
        raise ClientFailure("create %s: %s" % (db_name, err))
    steps["create_second"] = {"reply": exchange(reply)}

    pages, objects = api.list("app", "service", limit=1)
    steps["list_paged"] = {"pages": pages, "names": [o.get("name") for o in objects]}

    # The documented `uuid` filter (service.md, List all services); the CLI resolves identifiers with
    # Service.list(uuid__startswith=...) or Service.list(name=...).
    pages, objects = api.list("app", "service", uuid=web["uuid"])
    steps["list_filtered_by_uuid"] = {"pages": pages, "names": [o.get("name") for o in objects]}

    reply, _ = api.fetch("app", "service", web["uuid"])
    steps["fetch_by_uuid"] = {"reply": exchange(reply), "is_uuid4": bool(UUID4.match(web["uuid"]))}
    reply, _ = api.refresh(web)
    steps["fetch_by_resource_uri"] = {"reply": exchange(reply)}
    reply, _ = api.fetch_by_resource_uri(web["resource_uri"])
    steps["fetch_by_resource_uri_utils"] = {"reply": exchange(reply)}

    try:
        reply, started = api.perform(web, "start")
    except ApiError as err:
        raise ClientFailure("start: %s" % err)
    steps["start"] = {"reply": exchange(reply), "action_uri": started["dockercloud_action_uri"]}
    running, seen = poll(api, web, ("Running",), "start")
    steps["poll_running"] = {"states": seen, "object": running}
    try:
        api.perform(db, "start")
        poll(api, db, ("Running",), "start %s" % db_name)
    except ApiError as err:
        raise ClientFailure("start %s: %s" % (db_name, err))

    action_uri = started["dockercloud_action_uri"]
    if not action_uri:
        raise ClientFailure("start: no X-DockerCloud-Action-URI header")
    reply = api.request("GET", action_uri)
    steps["action_by_header_uri"] = {"reply": exchange(reply)}
    action = reply["json"] if isinstance(reply["json"], dict) else {}
    steps["action_fields"] = {"missing": missing(action, ACTION_ATTRIBUTES),
                              "dates": cli_dates(action, ["start_date", "end_date"])}
    steps["action_sync"] = sync_action(api, action_uri)

    # The service's containers: its `containers` URIs, each refreshed; then Container.list(service=URI), as
    # `docker-cloud container ps --service` lists them.
    containers = []
    for uri in running.get("containers") or []:
        reply, container = api.refresh({"resource_uri": uri})
        containers.append(container)
    steps["containers"] = {"objects": containers,
                           "uuid4": [bool(UUID4.match(str(c.get("uuid")))) for c in containers]}
    pages, listed = api.list("app", "container", service=running["resource_uri"])
    steps["containers_of_service"] = {"pages": pages, "names": [o.get("name") for o in listed],
                                      "services": [o.get("service") for o in listed]}
    steps["cli_fields"] = {
        "service_missing": missing(running, CLI_SERVICE_PS),
        "container_missing": sorted({n for c in listed for n in missing(c, CLI_CONTAINER_PS)}),
        "container_nodes": [c.get("node") for c in listed],
        "service_dates": cli_dates(running, ["deployed_datetime", "started_datetime", "stopped_datetime"]),
        "container_dates": cli_dates(listed[0] if listed else {}, ["deployed_datetime"]),
    }

    try:
        reply, _ = api.perform(web, "stop")
    except ApiError as err:
        raise ClientFailure("stop: %s" % err)
    stopped, seen = poll(api, web, ("Stopped",), "stop")
    steps["stop"] = {"reply": exchange(reply), "states": seen, "object": stopped}

    # Terminate: Service.delete() is a DELETE of its resource URI; the service stays listed as Terminated.
    try:
        reply, _ = api.delete(web)
        api.delete(db)
    except ApiError as err:
        raise ClientFailure("terminate: %s" % err)
    terminated, seen = poll(api, web, ("Terminated",), "terminate")
    steps["terminate"] = {"reply": exchange(reply), "states": seen, "object": terminated}

    # The reference: name is optional ("default: image without namespace").
    reply = api.request("POST", api.collection("app", "service"), body={"image": image})
    steps["create_without_name"] = {"reply": exchange(reply)}
    if 200 <= reply["status"] <= 299 and isinstance(reply["json"], dict) and reply["json"].get("resource_uri"):
        api.request("DELETE", reply["json"]["resource_uri"])

    pages, objects = api.list("app", "service")
    steps["list_after"] = {"pages": pages, "states": {o.get("name"): o.get("state") for o in objects}}

    unknown = str(uuidlib.uuid4())
    steps["not_found_service"] = {"reply": exchange(api.request("GET", api.item("app", "service", unknown)))}
    steps["not_found_container"] = {"reply": exchange(api.request("GET", api.item("app", "container", unknown)))}
    steps["method_not_allowed"] = {"reply": exchange(api.request("PUT", web["resource_uri"], body={}))}
    try:
        api.fetch("app", "service", unknown)
        steps["not_found_sdk"] = {"raised": None}
    except AuthError:
        steps["not_found_sdk"] = {"raised": "AuthError"}
    except ApiError as err:
        steps["not_found_sdk"] = {"raised": "ApiError", "message": str(err)[:300]}

    # A wrong API key: the same user, the key with its last character changed.
    env = dict(os.environ)
    env.pop("DOCKERCLOUD_AUTH", None)
    key = env.get("DOCKERCLOUD_APIKEY") or "x"
    env["DOCKERCLOUD_APIKEY"] = key[:-1] + ("A" if key[-1:] != "A" else "B")
    wrong = Api(env)
    reply = wrong.request("GET", wrong.collection("app", "service"))
    steps["wrong_key"] = {"reply": exchange(reply)}
    try:
        wrong.send("GET", wrong.collection("app", "service"))
        steps["wrong_key_sdk"] = {"raised": None}
    except AuthError:
        steps["wrong_key_sdk"] = {"raised": "AuthError"}
    except ApiError:
        steps["wrong_key_sdk"] = {"raised": "ApiError"}


def whoami(api, report):
    pages, objects = api.list("app", "service")
    report["steps"]["services"] = {"pages": pages, "names": [o.get("name") for o in objects]}
    pages, objects = api.list("audit", "action", namespaced=False)
    report["steps"]["actions"] = {"pages": pages, "count": len(objects)}


def main():
    parser = argparse.ArgumentParser(description="A Docker Cloud API client, from Docker Cloud's docs only.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("flow", help="the whole life cycle of a service")
    run.add_argument("--image", required=True)
    run.add_argument("--prefix", default="sdk")
    sub.add_parser("whoami", help="the lists this identity sees")
    args = parser.parse_args()

    report = {"steps": {}}
    try:
        api = Api(os.environ)
        if api.authorization is None:
            raise ClientFailure("set DOCKERCLOUD_AUTH, or DOCKERCLOUD_USER and DOCKERCLOUD_APIKEY")
        report["config"] = {"rest_host": api.rest_host, "namespace": api.namespace, "auth_from": api.auth_from,
                            "user_agent": USER_AGENT}
        if args.command == "flow":
            flow(api, args.image, args.prefix, report)
        else:
            whoami(api, report)
    except (ClientFailure, ApiError) as err:
        report["failure"] = str(err)
        print(json.dumps(report, indent=1, sort_keys=True))
        print("docker-cloud-client: %s" % err, file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError, http.client.HTTPException) as err:
        report["failure"] = "%s: %s" % (type(err).__name__, err)
        print(json.dumps(report, indent=1, sort_keys=True))
        print("docker-cloud-client: cannot talk to %s: %s" % (os.environ.get("DOCKERCLOUD_REST_HOST"), err),
              file=sys.stderr)
        return 1
    report["exchanges"] = api.exchanges
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
