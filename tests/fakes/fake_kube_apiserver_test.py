#!/usr/bin/env python3
"""Checks the fake Kubernetes API server against the real API's rules, and
against a real client: /usr/bin/kubectl (over HTTPS, because kubectl never
sends a bearer token over plain HTTP)."""
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "test-token"


class Fake:
    def __init__(self, tls=False, extra=()):
        self.dir = tempfile.mkdtemp(prefix="fake-kube-test-")
        port_file = os.path.join(self.dir, "port")
        args = [sys.executable, os.path.join(HERE, "fake_kube_apiserver.py"), "--port", "0",
                "--port-file", port_file, "--token", TOKEN, "--bookmark-interval", "0.2"]
        args += list(extra)
        self.tls = tls
        if tls:
            self.cert = os.path.join(self.dir, "cert.pem")
            key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                            "1", "-subj", "/CN=127.0.0.1", "-addext",
                            "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", self.cert],
                           check=True, capture_output=True)
            args += ["--tls-cert", self.cert, "--tls-key", key]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("fake did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def conn(self):
        if self.tls:
            import ssl
            ctx = ssl.create_default_context(cafile=self.cert)
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=10)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def call(self, method, path, body=None, ctype="application/json", token=TOKEN, raw=None):
        conn = self.conn()
        headers = {"Content-Type": ctype}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        return resp.status, (json.loads(text) if text else None)

    def cm(self, name, labels=None, data=None, binary=None):
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels or {}}}
        if data:
            body["data"] = data
        if binary:
            body["binaryData"] = binary
        return body


NS = "/api/v1/namespaces/t/configmaps"


class FakeApiServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.call("POST", "/_fake/reset", {})

    def test_resource_version_increases_and_is_required_to_match_on_update(self):
        code, a = self.fake.call("POST", NS, self.fake.cm("rv-a", data={"k": "1"}))
        self.assertEqual(code, 201)
        rv1 = int(a["metadata"]["resourceVersion"])
        a["data"]["k"] = "2"
        code, b = self.fake.call("PUT", NS + "/rv-a", a)
        self.assertEqual(code, 200)
        self.assertGreater(int(b["metadata"]["resourceVersion"]), rv1)
        code, status = self.fake.call("PUT", NS + "/rv-a", a)  # stale resourceVersion
        self.assertEqual((code, status["kind"], status["reason"]), (409, "Status", "Conflict"))
        del a["metadata"]["resourceVersion"]
        self.assertEqual(self.fake.call("PUT", NS + "/rv-a", a)[0], 422)
        code, status = self.fake.call("POST", NS, self.fake.cm("rv-a"))
        self.assertEqual((code, status["reason"]), (409, "AlreadyExists"))

    def test_merge_patch_honours_a_resource_version_precondition(self):
        _, a = self.fake.call("POST", NS, self.fake.cm("mp", labels={"x": "1", "y": "2"}))
        rv = a["metadata"]["resourceVersion"]
        patch = {"metadata": {"resourceVersion": rv, "labels": {"x": "9", "y": None}}}
        code, b = self.fake.call("PATCH", NS + "/mp", patch, "application/merge-patch+json")
        self.assertEqual(code, 200)
        self.assertEqual(b["metadata"]["labels"], {"x": "9"})
        code, _ = self.fake.call("PATCH", NS + "/mp", patch, "application/merge-patch+json")
        self.assertEqual(code, 409)
        self.assertEqual(self.fake.call("PATCH", NS + "/mp", patch, "application/json")[0], 415)

    def test_missing_objects_invalid_names_and_oversized_configmaps(self):
        code, status = self.fake.call("GET", NS + "/nope")
        self.assertEqual((code, status["reason"]), (404, "NotFound"))
        self.assertEqual(self.fake.call("DELETE", NS + "/nope")[0], 404)
        self.assertEqual(self.fake.call("POST", NS, self.fake.cm("Bad_Name"))[0], 422)
        big = base64.b64encode(b"\0" * ((1 << 20) + 1)).decode()
        code, status = self.fake.call("POST", NS, self.fake.cm("big", binary={"b": big}))
        self.assertEqual((code, status["reason"]), (422, "Invalid"))
        self.assertIn("Too long", status["message"])
        fits = base64.b64encode(b"\0" * ((1 << 20) - 100)).decode()
        self.assertEqual(self.fake.call("POST", NS, self.fake.cm("fits", binary={"b": fits}))[0],
                         201)

    def test_protobuf_writes_are_unsupported_media_type(self):
        code, status = self.fake.call("POST", NS, raw=b"k8s\0...",
                                      ctype="application/vnd.kubernetes.protobuf")
        self.assertEqual((code, status["reason"]), (415, "UnsupportedMediaType"))

    def test_bad_tokens_are_unauthorized(self):
        self.assertEqual(self.fake.call("GET", NS, token="wrong")[0], 401)
        self.assertEqual(self.fake.call("GET", NS, token=None)[0], 401)

    def test_label_selectors_and_pagination(self):
        ns = "/api/v1/namespaces/sel/configmaps"
        for i in range(7):
            labels = {"app": "a" if i % 2 else "b", "rank": str(i)}
            if i < 3:
                labels["tier"] = "x"
            self.fake.call("POST", ns, self.fake.cm("s%d" % i, labels=labels))

        def names(selector):
            _, body = self.fake.call("GET", ns + "?labelSelector=" +
                                     urllib_quote(selector))
            return sorted(i["metadata"]["name"] for i in body["items"])
        self.assertEqual(names("app=a"), ["s1", "s3", "s5"])
        self.assertEqual(names("app==a,rank!=3"), ["s1", "s5"])
        self.assertEqual(names("rank in (0, 6)"), ["s0", "s6"])
        self.assertEqual(names("rank notin (0,1,2,3,4)"), ["s5", "s6"])
        self.assertEqual(names("tier"), ["s0", "s1", "s2"])
        self.assertEqual(names("!tier,app=b"), ["s4", "s6"])
        seen, cont, rvs = [], "", set()
        while True:
            _, page = self.fake.call("GET", ns + "?limit=3" + ("&continue=" + cont if cont else ""))
            seen += [i["metadata"]["name"] for i in page["items"]]
            rvs.add(page["metadata"]["resourceVersion"])
            self.fake.call("POST", ns, self.fake.cm("late%d" % len(seen)))  # not in the snapshot
            cont = page["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(seen, ["s%d" % i for i in range(7)])
        self.assertEqual(len(rvs), 1)

    def test_watch_streams_events_bookmarks_and_410_for_old_versions(self):
        ns = "/api/v1/namespaces/w/configmaps"
        _, first = self.fake.call("POST", ns, self.fake.cm("w0", labels={"k": "v"}))
        rv = first["metadata"]["resourceVersion"]
        events = []

        def watch():
            conn = self.fake.conn()
            conn.request("GET", ns + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=2"
                         "&labelSelector=k%3Dv&resourceVersion=" + rv,
                         headers={"Authorization": "Bearer " + TOKEN})
            resp = conn.getresponse()
            for line in resp:
                if line.strip():
                    events.append(json.loads(line))
            conn.close()
        t = threading.Thread(target=watch)
        t.start()  # events after `rv` are replayed whenever the watch connects
        _, w1 = self.fake.call("POST", ns, self.fake.cm("w1", labels={"k": "v"}))
        self.fake.call("POST", ns, self.fake.cm("other", labels={"k": "no"}))
        w1["data"] = {"a": "b"}
        self.fake.call("PUT", ns + "/w1", w1)
        self.fake.call("DELETE", ns + "/w1")
        t.join()
        kinds = [(e["type"], e["object"]["metadata"].get("name")) for e in events
                 if e["type"] != "BOOKMARK"]
        self.assertEqual(kinds, [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")])
        self.assertTrue(any(e["type"] == "BOOKMARK" for e in events))
        self.fake.call("POST", "/_fake/faults", {"compact": True})
        conn = self.fake.conn()
        conn.request("GET", ns + "?watch=1&resourceVersion=" + rv,
                     headers={"Authorization": "Bearer " + TOKEN})
        resp = conn.getresponse()
        event = json.loads(resp.readline())
        conn.close()
        self.assertEqual((event["type"], event["object"]["code"]), ("ERROR", 410))

    def test_deleting_a_pod_collects_what_it_owns_transitively(self):
        pods = "/api/v1/namespaces/gc/pods"
        cms = "/api/v1/namespaces/gc/configmaps"
        _, pod = self.fake.call("POST", pods, {"metadata": {"name": "p"}})
        owned = self.fake.cm("head")
        owned["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "p",
                                                 "uid": pod["metadata"]["uid"]}]
        _, head = self.fake.call("POST", cms, owned)
        chunk = self.fake.cm("chunk")
        chunk["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap",
                                                 "name": "head", "uid": head["metadata"]["uid"]}]
        self.fake.call("POST", cms, chunk)
        self.fake.call("POST", cms, self.fake.cm("free"))
        self.assertEqual(self.fake.call("DELETE", pods + "/p")[0], 200)
        _, left = self.fake.call("GET", cms)
        self.assertEqual([i["metadata"]["name"] for i in left["items"]], ["free"])

    def test_faults_and_counters(self):
        self.fake.call("POST", "/_fake/faults", {"namespace": "f", "fail_500": 1,
                                                 "conflict": 1})
        path = "/api/v1/namespaces/f/configmaps"
        self.assertEqual(self.fake.call("GET", path)[0], 500)
        self.assertEqual(self.fake.call("GET", path)[0], 200)
        _, a = self.fake.call("POST", path, self.fake.cm("a"))
        self.assertEqual(self.fake.call("PUT", path + "/a", a)[0], 409)
        self.assertEqual(self.fake.call("PUT", path + "/a", a)[0], 200)
        _, counters = self.fake.call("GET", "/_fake/counters?namespace=f")
        self.assertEqual(counters, {"list configmaps": 2, "create configmaps": 1,
                                    "update configmaps": 2})

    def test_fail_rules_match_verb_and_name_and_count_down(self):
        path = "/api/v1/namespaces/r/configmaps"
        self.fake.call("POST", "/_fake/faults", {"namespace": "r", "fail": [
            {"verb": "create", "name_prefix": "chunk-", "code": 422, "count": 1},
            {"verb": "update", "name": "head", "code": 403}]})
        self.assertEqual(self.fake.call("POST", path, self.fake.cm("chunk-1"))[0], 422)
        self.assertEqual(self.fake.call("POST", path, self.fake.cm("chunk-1"))[0], 201)
        code, head = self.fake.call("POST", path, self.fake.cm("head"))
        self.assertEqual(code, 201)
        code, status = self.fake.call("PUT", path + "/head", head)
        self.assertEqual((code, status["reason"]), (403, "Forbidden"))
        self.fake.call("POST", "/_fake/faults", {"namespace": "r", "fail": []})
        self.assertEqual(self.fake.call("PUT", path + "/head", head)[0], 200)

    def test_a_slow_reply_applies_the_write_before_it_answers(self):
        path = "/api/v1/namespaces/s/configmaps"
        _, a = self.fake.call("POST", path, self.fake.cm("a"))
        self.fake.call("POST", "/_fake/faults", {"namespace": "s", "slow_reply": [
            {"verb": "patch", "ms": 300, "count": 1}]})
        patch = {"metadata": {"resourceVersion": a["metadata"]["resourceVersion"],
                              "labels": {"x": "1"}}}
        started = time.time()
        self.assertEqual(self.fake.call("PATCH", path + "/a", patch,
                                        "application/merge-patch+json")[0], 200)
        self.assertGreaterEqual(time.time() - started, 0.3)
        # Its retry (same resourceVersion) is now a conflict: the first one landed.
        self.assertEqual(self.fake.call("PATCH", path + "/a", patch,
                                        "application/merge-patch+json")[0], 409)

    def test_watches_can_end_at_once_or_stay_silent(self):
        url = "/api/v1/namespaces/w2/configmaps?watch=1&allowWatchBookmarks=true"
        self.fake.call("POST", "/_fake/faults", {"namespace": "w2", "end_watches": 1})
        conn = self.fake.conn()
        conn.request("GET", url, headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(conn.getresponse().read(), b"")  # ended cleanly, no event
        conn.close()
        self.fake.call("POST", "/_fake/faults", {"namespace": "w2", "silent_watches": True})
        conn = self.fake.conn()
        conn.request("GET", url + "&timeoutSeconds=1",
                     headers={"Authorization": "Bearer " + TOKEN})
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        deadline = time.time() + 10
        while self.fake.call("GET", "/_fake/watches")[1]["silent"] < 1:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.fake.call("POST", "/_fake/faults", {"namespace": "w2", "silent_watches": False})
        with self.assertRaises(Exception):  # cut without a final chunk
            response.read()
        conn.close()


def urllib_quote(text):
    import urllib.parse
    return urllib.parse.quote(text, safe="")


@unittest.skipUnless(os.path.exists("/usr/bin/kubectl"), "kubectl not installed")
class KubectlAgainstTheFakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(tls=True)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def kubectl(self, *args, stdin=None):
        env = dict(os.environ, KUBECONFIG=os.path.join(self.fake.dir, "none"),
                   HOME=self.fake.dir)
        cmd = ["/usr/bin/kubectl", "--server=https://127.0.0.1:%d" % self.fake.port,
               "--token=" + TOKEN, "--certificate-authority=" + self.fake.cert] + list(args)
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env,
                              timeout=60)

    def test_kubectl_creates_gets_and_deletes_configmaps(self):
        manifest = os.path.join(self.fake.dir, "cm.json")
        with open(manifest, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "from-kubectl", "labels": {"app": "mxd"}},
                       "data": {"greeting": "hello"}}, f)
        made = self.kubectl("create", "--raw", "/api/v1/namespaces/ns/configmaps", "-f", manifest)
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertEqual(json.loads(made.stdout)["metadata"]["name"], "from-kubectl")

        got = self.kubectl("get", "configmaps", "-n", "ns", "-o", "json")
        self.assertEqual(got.returncode, 0, got.stderr)
        items = json.loads(got.stdout)["items"]
        self.assertEqual([i["metadata"]["name"] for i in items], ["from-kubectl"])
        self.assertEqual(items[0]["data"], {"greeting": "hello"})

        by_label = self.kubectl("get", "cm", "-n", "ns", "-l", "app in (mxd)", "-o", "name")
        self.assertEqual(by_label.stdout.split(), ["configmap/from-kubectl"])
        none = self.kubectl("get", "cm", "-n", "ns", "-l", "app!=mxd", "-o", "name")
        self.assertEqual(none.stdout.split(), [])

        dup = self.kubectl("create", "--raw", "/api/v1/namespaces/ns/configmaps", "-f", manifest)
        self.assertNotEqual(dup.returncode, 0)
        self.assertIn("already exists", dup.stderr)

        deleted = self.kubectl("delete", "configmap", "from-kubectl", "-n", "ns")
        self.assertEqual(deleted.returncode, 0, deleted.stderr)
        self.assertIn("deleted", deleted.stdout)
        after = self.kubectl("get", "configmaps", "-n", "ns", "-o", "json")
        self.assertEqual(json.loads(after.stdout)["items"], [])
        missing = self.kubectl("get", "configmap", "from-kubectl", "-n", "ns")
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("NotFound", missing.stderr)

    def test_kubectl_reports_a_bad_token(self):
        env = dict(os.environ, KUBECONFIG=os.path.join(self.fake.dir, "none"),
                   HOME=self.fake.dir)
        out = subprocess.run(["/usr/bin/kubectl", "--server=https://127.0.0.1:%d" % self.fake.port,
                              "--token=wrong", "--certificate-authority=" + self.fake.cert,
                              "get", "configmaps", "-n", "ns"],
                             capture_output=True, text=True, env=env, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Unauthorized", out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
