#!/usr/bin/env python3
"""A fake Kubernetes API server for mxd's tests (Python standard library only).

Serves the core/v1 ConfigMap and Pod subset mxd's store uses, the discovery
documents kubectl needs, and an unauthenticated admin API under /_fake/ for
fault injection and request counters. See README.md for what differs from a
real API server.

  fake_kube_apiserver.py --port 0 --port-file /tmp/p --token secret
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_kube_selectors import combined  # noqa: E402
from fake_kube_state import KINDS, ApiError, State  # noqa: E402

API_RESOURCES = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
    "resources": [
        {"name": "configmaps", "singularName": "configmap", "namespaced": True,
         "kind": "ConfigMap", "shortNames": ["cm"],
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "shortNames": ["po"], "verbs": ["create", "delete", "get", "list", "watch"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": False,
         "kind": "Namespace", "shortNames": ["ns"], "verbs": ["get", "list"]},
    ]}
FAIL_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                410: "Expired", 413: "RequestEntityTooLarge", 422: "Invalid",
                429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                504: "Timeout"}
WRITE_TYPES = ("application/json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "fake-kube-apiserver/1"
    state = None  # set in main
    bookmark_interval = 1.0

    def log_message(self, fmt, *args):  # quiet unless asked
        if os.environ.get("FAKE_KUBE_VERBOSE"):
            sys.stderr.write("%s\n" % (fmt % args))

    # ---- plumbing ----
    def _send_json(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_raw(self):
        if getattr(self, "_body_read", False):
            return b""
        self._body_read = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return raw
                raw += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _body(self):
        raw = self._read_raw()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "BadRequest", "request body is not valid JSON")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        self._body_read = False
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts[:1] == ["_fake"]:
                return self._admin(method, parts[1:], query)
            self._authenticate()
            if parts in ([], ["api"], ["apis"], ["api", "v1"], ["version"], ["healthz"],
                         ["livez"], ["readyz"]):
                self.state.count(None, "discovery")
                return self._send_json(200, self._discovery(parts))
            self._resource(method, parts, query)
        except ApiError as err:
            self._body_discard()
            self._send_json(err.code, err.status(),
                            {"Retry-After": "1"} if err.code == 429 else None)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _body_discard(self):
        try:
            self._read_raw()
        except (OSError, ValueError):
            pass

    def _authenticate(self):
        if not self.state.tokens:
            return
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.state.tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _discovery(self, parts):
        if parts == ["api"]:
            host, port = self.server.server_address[:2]
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
                    [{"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (host, port)}]}
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if parts == ["api", "v1"]:
            return API_RESOURCES
        if parts == ["version"]:
            return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                    "platform": "linux/amd64"}
        return {"paths": ["/api", "/api/v1", "/apis", "/version"]}

    # ---- the API ----
    def _resource(self, method, parts, query):
        if parts[:2] != ["api", "v1"]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rest = parts[2:]
        ns = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        if rest[:1] == ["namespaces"]:
            return self._namespaces(rest)
        if not rest or rest[0] not in KINDS or len(rest) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource, name = rest[0], (rest[1] if len(rest) == 2 else None)
        watching = method == "GET" and query.get("watch") in ("1", "true")
        verb = {"GET": "watch" if watching else ("get" if name else "list"), "POST": "create",
                "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        self.state.count(ns, "%s %s" % (verb, resource))
        body, bad_json = None, False
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            raw = self._read_raw()  # read first: fault rules may match the created name
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                bad_json = True  # reported after the media-type check, as before
        target = name
        if not target and isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            target = body["metadata"].get("name")
        self._apply_faults(ns, verb, resource, target)
        if (verb == "create" and (name or ns is None)) or (
                verb in ("update", "patch", "delete") and not name):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method "
                           "on the requested resource")
        if method in ("POST", "PUT", "PATCH"):
            # Like the real server, a write without a Content-Type is read as JSON.
            ctype = ((self.headers.get("Content-Type") or "").split(";")[0].strip()
                     or WRITE_TYPES[0])
            allowed = WRITE_TYPES[1:] if method == "PATCH" else WRITE_TYPES[:1]
            if ctype not in allowed:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in "
                               "an unknown format - accepted media types include: %s"
                               % ", ".join(allowed))
        if bad_json:
            raise ApiError(400, "BadRequest", "request body is not valid JSON")
        if verb == "watch":
            return self._watch(resource, ns, query)
        if verb == "list":
            selector = combined(query.get("labelSelector"), query.get("fieldSelector"))
            limit = int(query.get("limit") or 0)
            items, rv, token = self.state.list(resource, ns, selector, limit,
                                               query.get("continue"))
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
            meta = {"resourceVersion": str(rv)}
            if token:
                meta["continue"] = token
            return self._send_json(200, {"kind": KINDS[resource] + "List", "apiVersion": "v1",
                                         "metadata": meta, "items": items})
        if verb == "get":
            return self._send_json(200, self.state.get(resource, ns, name))
        if verb == "create":
            code, reply = 201, self.state.create(resource, ns, body or {})
        elif verb == "update":
            code, reply = 200, self.state.update(resource, ns, name, body or {})
        elif verb == "patch":
            code, reply = 200, self.state.patch(resource, ns, name, body or {})
        else:
            old = self.state.delete(resource, ns, name, body)
            code, reply = 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Success", "details": {
                                    "name": name, "kind": resource,
                                    "uid": old["metadata"]["uid"]}}
        # "Succeeded, but the reply came too late": the write is applied, then
        # the answer waits (past the client's timeout).
        rule = self.state.match_rule(ns, "slow_reply", verb, resource, target)
        if rule:
            self.state.count(ns, "slow_reply")
            time.sleep(float(rule.get("ms", 1000)) / 1000.0)
        self._send_json(code, reply)

    def _namespaces(self, rest):
        with self.state.cond:
            names = sorted(self.state.namespaces)
        items = [{"metadata": {"name": n}, "status": {"phase": "Active"}} for n in names]
        if len(rest) == 2:
            return self._send_json(200, {
                "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": rest[1]},
                "status": {"phase": "Active"}})
        self._send_json(200, {"kind": "NamespaceList", "apiVersion": "v1",
                              "metadata": {"resourceVersion": "1"}, "items": items})

    def _apply_faults(self, ns, verb, resource, name):
        latency = self.state.fault(ns, "latency_ms")
        if latency:
            time.sleep(latency / 1000.0)
        hang = self.state.fault(ns, "hang_s")
        if hang:
            time.sleep(float(hang))
        rule = self.state.match_rule(ns, "fail", verb, resource, name)
        if rule:
            code = int(rule.get("code", 500))
            reason = FAIL_REASONS.get(code, "InternalError")
            message = rule.get("message") or "%s %s %s: injected fault" % (
                verb, resource, name or "")
            raise ApiError(code, reason, message, {"kind": resource, "name": name or ""})
        forbid = self.state.fault(ns, "forbid") or []
        if "%s %s" % (verb, resource) in forbid or "*" in forbid:
            raise ApiError(403, "Forbidden", '%s is forbidden: User "system:serviceaccount:%s:'
                           'mxd" cannot %s resource "%s" in API group "" in the namespace "%s"'
                           % (resource, ns, verb, resource, ns),
                           {"kind": resource, "name": name or ""})
        if self.state.take(ns, "throttle"):
            raise ApiError(429, "TooManyRequests", "Too many requests, please try again "
                           "later.", {"retryAfterSeconds": 1})
        if self.state.take(ns, "fail_500"):
            raise ApiError(500, "InternalError", "Internal error occurred: injected fault")
        if verb in ("update", "patch") and self.state.take(ns, "conflict"):
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the '
                           "object has been modified; please apply your changes to the "
                           "latest version and try again (injected)" % (resource, name),
                           {"name": name, "kind": resource})

    # ---- watch ----
    def _watch(self, resource, ns, query):
        state = self.state
        selector = combined(query.get("labelSelector"), query.get("fieldSelector"))
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        deadline = time.time() + float(query.get("timeoutSeconds") or 1800)
        since = query.get("resourceVersion") or "0"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        if state.take(ns, "end_watches"):
            state.count(ns, "ended watch")
            return self._chunk_end()  # a stream that ends cleanly at once
        if state.fault(ns, "silent_watches"):
            return self._silent_watch(ns)
        expire = state.take(ns, "expire_watches")
        with state.cond:
            epoch = state.watch_epoch
            state.active_watches += 1
            initial = []
            if expire:
                initial, last = None, 0
            elif since == "0":
                last = state.rv
                initial = [("ADDED", o) for (r, n, _), o in sorted(state.objects.items())
                           if r == resource and (ns is None or n == ns) and selector(o)]
            elif int(since) < state.compacted_rv:
                initial, last = None, 0
            else:
                last = int(since)
        try:
            if initial is None:
                status = ApiError(410, "Expired", "too old resource version: %s (%d)"
                                  % (since, state.compacted_rv)).status()
                self._chunk({"type": "ERROR", "object": status})
                return self._chunk_end()
            for kind, obj in initial:
                self._chunk({"type": kind, "object": obj})
            for line in state.pop_fault(ns, "inject_lines") or []:
                data = (line + "\n").encode()  # raw: any bytes, any shape
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            last_bookmark = time.time()
            while time.time() < deadline:
                with state.cond:
                    pending = [e for e in state.events if e[0] > last]
                    if not pending and state.watch_epoch == epoch:
                        state.cond.wait(0.2)
                        pending = [e for e in state.events if e[0] > last]
                    dropped = state.watch_epoch != epoch
                    expired = last < state.compacted_rv
                    current = state.rv
                if dropped:
                    return  # abrupt close: no terminating chunk
                if expired:
                    status = ApiError(410, "Expired", "too old resource version").status()
                    self._chunk({"type": "ERROR", "object": status})
                    return self._chunk_end()
                for rv, res, ens, kind, obj, old in pending:
                    last = rv
                    if res != resource or (ns is not None and ens != ns):
                        continue
                    now_match = kind != "DELETED" and selector(obj)
                    was_match = old is not None and selector(old)
                    if kind == "DELETED":
                        out = "DELETED" if was_match else None
                    elif now_match:
                        out = "MODIFIED" if was_match else "ADDED"
                    else:
                        out = "DELETED" if was_match else None
                    if out:
                        self._chunk({"type": out, "object": obj})
                if not pending:
                    last = max(last, current)
                if bookmarks and time.time() - last_bookmark >= self.bookmark_interval:
                    last_bookmark = time.time()
                    self._chunk({"type": "BOOKMARK", "object": {
                        "kind": KINDS[resource], "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(last)}}})
            self._chunk_end()
        finally:
            with state.cond:
                state.active_watches -= 1

    def _silent_watch(self, ns):
        """Headers sent, then nothing (a peer that vanished without a FIN), not
        even at timeoutSeconds, until the fault is cleared or watches are
        dropped; then the connection is cut without a final chunk."""
        state = self.state
        with state.cond:
            epoch = state.watch_epoch
            state.active_watches += 1
            state.silent_watches += 1
        try:
            while True:
                with state.cond:
                    if state.watch_epoch != epoch:
                        return
                    state.cond.wait(0.2)
                if not state.fault(ns, "silent_watches"):
                    return
        finally:
            with state.cond:
                state.active_watches -= 1
                state.silent_watches -= 1

    def _chunk(self, event):
        data = (json.dumps(event) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _chunk_end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ---- admin ----
    def _admin(self, method, parts, query):
        state = self.state
        if parts == ["counters"] and method == "GET":
            with state.cond:
                body = dict(state.counters.get(query.get("namespace", "*"), {}))
            return self._send_json(200, body)
        if parts == ["watches"]:
            with state.cond:
                return self._send_json(200, {"active": state.active_watches,
                                             "silent": state.silent_watches})
        body = self._body() or {}
        if parts == ["faults"] and method == "POST":
            scope = body.pop("namespace", "*")
            with state.cond:
                if body.pop("drop_watches", False):
                    state.watch_epoch += 1
                    state.cond.notify_all()
                if "tokens" in body:
                    state.tokens = set(body.pop("tokens"))
                state.faults.setdefault(scope, {}).update(body)
            if body.pop("compact", False):
                state.compact()
            return self._send_json(200, {"ok": True})
        if parts == ["reset"] and method == "POST":
            with state.cond:
                state.faults, state.counters = {}, {}
            return self._send_json(200, {"ok": True})
        raise ApiError(404, "NotFound", "unknown admin endpoint")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--token", action="append", default=[],
                        help="accepted bearer token (repeatable; none: no auth)")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--event-window", type=int, default=10000)
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    args = parser.parse_args()

    Handler.state = State(args.token, args.event_window)
    Handler.bookmark_interval = args.bookmark_interval
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, args.port_file)
    print("listening on %s:%d" % (args.host, port), flush=True)
    threading.current_thread().name = "fake-kube-apiserver"
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
