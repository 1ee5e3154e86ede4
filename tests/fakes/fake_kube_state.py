"""In-memory object store of the fake Kubernetes API server.

Holds ConfigMaps, Pods and the namespaces they live in, one global
resourceVersion counter (like etcd's revision), a bounded event log that
watches replay, list snapshots for limit/continue, owner-reference garbage
collection, and the fault/counter state the admin endpoint changes.
Everything is guarded by one condition variable; watches wait on it.
"""
import base64
import copy
import itertools
import random
import re
import threading
import time
import uuid

MAX_CONFIGMAP_BYTES = 1 << 20
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = re.compile(r"^%s(\.%s)*$" % (_DNS1123_LABEL, _DNS1123_LABEL))
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
KINDS = {"configmaps": "ConfigMap", "pods": "Pod"}


class ApiError(Exception):
    """An error the server answers with a metav1.Status body."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(resource, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (resource, name),
                    {"name": name, "kind": resource})


def conflict(resource, name, why="the object has been modified; please apply your "
             "changes to the latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (resource, name, why), {"name": name, "kind": resource})


def invalid(kind, name, why):
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name, why),
                    {"name": name, "kind": kind.lower() + "s"})


def configmap_size(obj):
    total = 0
    for key, value in (obj.get("data") or {}).items():
        total += len(key) + len(value.encode("utf-8"))
    for key, value in (obj.get("binaryData") or {}).items():
        total += len(key) + len(base64.b64decode(value))
    return total


def validate(resource, obj):
    kind = KINDS[resource]
    name = obj["metadata"].get("name", "")
    if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise invalid(kind, name, "metadata.name: Invalid value: %r: a lowercase RFC 1123 "
                      "subdomain must consist of lower case alphanumeric characters, '-' "
                      "or '.'" % name)
    if resource != "configmaps":
        return
    for section in ("data", "binaryData"):
        for key in (obj.get(section) or {}):
            if not CONFIG_KEY.match(key) or len(key) > 253:
                raise invalid(kind, name, "%s[%s]: Invalid value: a valid config key "
                              "must consist of alphanumeric characters, '-', '_' or '.'"
                              % (section, key))
    try:
        size = configmap_size(obj)
    except (ValueError, TypeError):
        raise invalid(kind, name, "binaryData: Invalid value: not base64")
    if size > MAX_CONFIGMAP_BYTES:
        raise invalid(kind, name, "[]: Too long: must have at most %d bytes"
                      % MAX_CONFIGMAP_BYTES)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class State:
    def __init__(self, tokens, event_window=10000):
        self.cond = threading.Condition()
        self.rv = 1
        self.objects = {}  # (resource, ns, name) -> object
        self.namespaces = set()
        self.events = []  # (rv, resource, ns, type, obj, old)
        self.compacted_rv = 1  # watches from below this get 410
        self.event_window = event_window
        self.snapshots = {}
        self.snapshot_ids = itertools.count(1)
        self.tokens = set(tokens)
        self.faults = {}  # namespace or "*" -> dict
        self.counters = {}  # namespace or "*" -> {"verb resource": n}
        self.watch_epoch = 0
        self.active_watches = 0
        self.silent_watches = 0

    # ---- faults and counters (caller holds no lock) ----
    def fault(self, ns, key):
        with self.cond:
            for scope in (ns, "*"):
                value = self.faults.get(scope, {}).get(key)
                if value:
                    return value
        return None

    def take(self, ns, key):
        """Consumes one unit of a count-based fault; True when it fired."""
        with self.cond:
            for scope in (ns, "*"):
                faults = self.faults.get(scope, {})
                if faults.get(key, 0) > 0:
                    faults[key] -= 1
                    return True
                rate = faults.get(key + "_rate", 0)
                if rate and random.random() < rate:
                    return True
        return False

    def pop_fault(self, ns, key):
        """Removes and returns a one-shot fault value (namespace first)."""
        with self.cond:
            for scope in (ns, "*"):
                value = self.faults.get(scope, {}).pop(key, None)
                if value:
                    return value
        return None

    def match_rule(self, ns, key, verb, resource, name):
        """The first rule of fault `key` (a list of rules) matching a request;
        a rule with a `count` fires that many times. Rule fields (all
        optional): verb, resource, name (exact), name_prefix, count."""
        with self.cond:
            for scope in (ns, "*"):
                for rule in self.faults.get(scope, {}).get(key) or []:
                    if rule.get("verb") not in (None, verb):
                        continue
                    if rule.get("resource") not in (None, resource):
                        continue
                    if rule.get("name") not in (None, name):
                        continue
                    if not (name or "").startswith(rule.get("name_prefix", "")):
                        continue
                    if "count" in rule:
                        if rule["count"] <= 0:
                            continue
                        rule["count"] -= 1
                    return dict(rule)
        return None

    def count(self, ns, what):
        with self.cond:
            for scope in {ns or "*", "*"}:
                bucket = self.counters.setdefault(scope, {})
                bucket[what] = bucket.get(what, 0) + 1

    # ---- writes (all take the lock) ----
    def _record(self, resource, ns, kind, obj, old):
        self.events.append((self.rv, resource, ns, kind, copy.deepcopy(obj), old))
        if len(self.events) > self.event_window:
            dropped = self.events[: len(self.events) - self.event_window]
            self.events = self.events[len(dropped):]
            self.compacted_rv = dropped[-1][0]
        self.cond.notify_all()

    def _stamp(self, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def create(self, resource, ns, obj):
        with self.cond:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name", "")
            if meta.get("namespace", ns) != ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object "
                               "does not match the namespace sent on the request")
            validate(resource, obj)
            key = (resource, ns, name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists'
                               % (resource, name), {"name": name, "kind": resource})
            meta["namespace"] = ns
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            obj["kind"], obj["apiVersion"] = KINDS[resource], "v1"
            self._stamp(obj)
            self.objects[key] = obj
            self.namespaces.add(ns)
            self._record(resource, ns, "ADDED", obj, None)
            return copy.deepcopy(obj)

    def get(self, resource, ns, name):
        with self.cond:
            obj = self.objects.get((resource, ns, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def _replace(self, resource, ns, name, new, old):
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "namespace", "name"):
            meta[field] = old["metadata"][field]
        new["kind"], new["apiVersion"] = KINDS[resource], "v1"
        validate(resource, new)
        self._stamp(new)
        self.objects[(resource, ns, name)] = new
        self._record(resource, ns, "MODIFIED", new, old)
        return copy.deepcopy(new)

    def update(self, resource, ns, name, obj):
        with self.cond:
            old = self.objects.get((resource, ns, name))
            if old is None:
                raise not_found(resource, name)
            meta = obj.get("metadata") or {}
            if meta.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not "
                               "match the name on the URL (%s)" % (meta.get("name"), name))
            rv = meta.get("resourceVersion")
            if not rv:
                raise invalid(KINDS[resource], name, "metadata.resourceVersion: Invalid "
                              "value: 0x0: must be specified for an update")
            if rv != old["metadata"]["resourceVersion"]:
                raise conflict(resource, name)
            return self._replace(resource, ns, name, copy.deepcopy(obj), old)

    def patch(self, resource, ns, name, patch):
        with self.cond:
            old = self.objects.get((resource, ns, name))
            if old is None:
                raise not_found(resource, name)
            rv = ((patch.get("metadata") or {}).get("resourceVersion")
                  if isinstance(patch, dict) else None)
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(resource, name)
            return self._replace(resource, ns, name, merge_patch(old, patch), old)

    def delete(self, resource, ns, name, options):
        with self.cond:
            old = self.objects.get((resource, ns, name))
            if old is None:
                raise not_found(resource, name)
            pre = (options or {}).get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise conflict(resource, name, "Precondition failed: UID in precondition: "
                               "%s, UID in object meta: %s" % (pre["uid"],
                                                               old["metadata"]["uid"]))
            if (pre.get("resourceVersion")
                    and pre["resourceVersion"] != old["metadata"]["resourceVersion"]):
                raise conflict(resource, name, "Precondition failed: ResourceVersion in "
                               "precondition: %s, ResourceVersion in object meta: %s"
                               % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
            self._delete_locked(resource, ns, name)
            if (options or {}).get("propagationPolicy") != "Orphan":
                self._collect_garbage_locked(ns)
            return old

    def _delete_locked(self, resource, ns, name):
        obj = self.objects.pop((resource, ns, name))
        gone = copy.deepcopy(obj)
        self._stamp(gone)
        self._record(resource, ns, "DELETED", gone, obj)

    def _collect_garbage_locked(self, ns):
        """Deletes dependents whose owners are all gone (synchronously)."""
        while True:
            uids = {o["metadata"]["uid"] for (r, n, _), o in self.objects.items() if n == ns}
            orphans = [key for key, o in self.objects.items() if key[1] == ns
                       and o["metadata"].get("ownerReferences")
                       and not any(ref.get("uid") in uids
                                   for ref in o["metadata"]["ownerReferences"])]
            if not orphans:
                return
            for key in orphans:
                self._delete_locked(*key)

    # ---- reads ----
    def list(self, resource, ns, selector, limit, cont):
        """Returns (items, resourceVersion, continue token or "")."""
        with self.cond:
            if cont:
                try:
                    snap_id, offset = (int(x) for x in
                                       base64.urlsafe_b64decode(cont).decode().split(":"))
                except (ValueError, TypeError):
                    raise ApiError(400, "BadRequest", "invalid continue token")
                if snap_id not in self.snapshots:
                    raise ApiError(410, "Expired", "The provided continue parameter is too "
                                   "old to display a consistent list result.")
                rv, items = self.snapshots[snap_id]
            else:
                rv, offset = self.rv, 0
                items = sorted((o for (r, n, _), o in self.objects.items()
                                if r == resource and (ns is None or n == ns) and selector(o)),
                               key=lambda o: (o["metadata"]["namespace"],
                                              o["metadata"]["name"]))
                items = [copy.deepcopy(o) for o in items]
                snap_id = None
            if not limit or offset + limit >= len(items):
                return items[offset:], rv, ""
            if snap_id is None:
                snap_id = next(self.snapshot_ids)
                self.snapshots[snap_id] = (rv, items)
                while len(self.snapshots) > 64:
                    self.snapshots.pop(next(iter(self.snapshots)))
            token = base64.urlsafe_b64encode(("%d:%d" % (snap_id, offset + limit)).encode())
            return items[offset:offset + limit], rv, token.decode()

    def compact(self):
        with self.cond:
            self.compacted_rv = self.rv
            self.events = []
            self.snapshots = {}
