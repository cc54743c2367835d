#!/usr/bin/python3
"""pymacaroons as an interop peer for the agent's tests.

Reads one JSON request on stdin, writes one JSON answer on stdout.
  {"op": "verify", "token": T, "json": bool, "key": K, "exact": [...], "discharges": [T...]}
      -> {"ok": true} | {"ok": false, "error": "..."}
  {"op": "mint", "version": 1|2, "key": K, "identifier": I, "location": L, "caveats": [...],
   "third_party": {"key": K2, "id": ID, "location": L2, "caveats": [...]} (optional)}
      -> {"binary": T, "json": T, "discharge_binary": T, "discharge_json": T}  (discharges already bound)
"""
import json
import sys

from pymacaroons import MACAROON_V1, MACAROON_V2, Macaroon, Verifier
from pymacaroons.serializers import JsonSerializer


def load(token, as_json):
    return Macaroon.deserialize(token, JsonSerializer()) if as_json else Macaroon.deserialize(token)


def verify(req):
    m = load(req["token"], req.get("json", False))
    discharges = [load(t, req.get("json", False)) for t in req.get("discharges", [])]
    v = Verifier()
    for p in req.get("exact", []):
        v.satisfy_exact(p)
    try:
        v.verify(m, req["key"], discharges)
        return {"ok": True}
    except Exception as e:  # the peer's verdict is the answer
        return {"ok": False, "error": type(e).__name__}


def mint(req):
    version = MACAROON_V2 if req["version"] == 2 else MACAROON_V1
    m = Macaroon(location=req["location"], identifier=req["identifier"], key=req["key"], version=version)
    for c in req.get("caveats", []):
        m.add_first_party_caveat(c)
    out = {}
    tp = req.get("third_party")
    if tp:
        m.add_third_party_caveat(tp["location"], tp["key"], tp["id"])
        d = Macaroon(location=tp["location"], identifier=tp["id"], key=tp["key"], version=version)
        for c in tp.get("caveats", []):
            d.add_first_party_caveat(c)
        bound = m.prepare_for_request(d)
        out["discharge_binary"] = bound.serialize()
        out["discharge_json"] = bound.serialize(JsonSerializer())
    out["binary"] = m.serialize()
    out["json"] = m.serialize(JsonSerializer())
    return out


def main():
    req = json.load(sys.stdin)
    handler = {"verify": verify, "mint": mint}[req["op"]]
    json.dump(handler(req), sys.stdout)


if __name__ == "__main__":
    main()
