#!/usr/bin/env python3
"""Checks deploy/: every kustomization renders and parses, and every flag,
environment variable, port and probe in the manifests and compose file is
one the mxd binary really accepts (from `mxd --help`).

Usage: check_deploy.py MXD_BINARY DEPLOY_DIR   (needs kubectl and python3-yaml)
"""
import os
import re
import subprocess
import sys
import unittest

import yaml

MXD = None
DEPLOY = None
SERVICE = "model_express.p2p.P2pService"


def mxd_help():
    out = subprocess.run([MXD, "--help"], check=True, capture_output=True, text=True).stdout
    flags = set(re.findall(r"^  --([a-z0-9-]+)", out, re.M))
    envs = set(re.findall(r"\b(?:MX|REDIS|POD|KUBERNETES)_[A-Z0-9_]+\b", out))
    defaults = dict(re.findall(r"^  --([a-z0-9-]+).*\n.*\n      env: .*; default: (.*)$", out, re.M))
    return flags, envs, defaults


def help_entries():
    """(flag, envs, default, help) per option, in --help order."""
    out = subprocess.run([MXD, "--help"], check=True, capture_output=True, text=True).stdout
    return re.findall(r"^  --([a-z0-9-]+)\S*\n      (.*)\n      env: (.*); default: (.*)$", out, re.M)


def flag_table():
    rows = ["| Flag | Environment | Default | Meaning |", "|---|---|---|---|"]
    for flag, text, envs, default in help_entries():
        env = ", ".join("`%s`" % e.strip() for e in envs.split(","))
        rows.append("| `--%s` | %s | `%s` | %s |" % (flag, env, default, text.replace("|", "\\|")))
    return "\n".join(rows)


def render(path):
    out = subprocess.run(["kubectl", "kustomize", path], check=True, capture_output=True,
                         text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def flag_value(args, name):
    for a in args:
        if a.startswith("--" + name + "="):
            return a.split("=", 1)[1]
    return None


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.flags, cls.envs, cls.defaults = mxd_help()
        k8s = os.path.join(DEPLOY, "kubernetes")
        # Cluster-service variants: the ConfigMap store (top level, once its
        # manifests are listed) and the Redis store.
        cls.variants = {"configmap-store": render(k8s),
                        "redis-store": render(os.path.join(k8s, "redis-store")),
                        "redis-sentinel": render(os.path.join(k8s, "redis-sentinel"))}
        cls.cluster = cls.variants["redis-store"]
        cls.sidecar = render(os.path.join(k8s, "sidecar"))
        cls.all = list(cls.variants.values()) + [cls.sidecar]

    def mxd_containers(self, docs):
        found = []
        for d in docs:
            if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
                spec = d["spec"]["template"]["spec"] if d["kind"] != "Pod" else d["spec"]
                for c in spec["containers"]:
                    if c["image"].split(":")[0].endswith("mxd"):
                        found.append((d, c))
        return found

    def config_maps(self, docs):
        return {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}

    def test_help_lists_the_flags_this_test_relies_on(self):
        for f in ("listen", "metrics-listen", "store", "tls-cert-file", "auth-token-file"):
            self.assertIn(f, self.flags)
        self.assertIn("MX_METADATA_BACKEND", self.envs)

    def test_cluster_kustomizations_have_the_expected_kinds(self):
        for name, docs in self.variants.items():
            kinds = sorted({d["kind"] for d in docs})
            for k in ("ConfigMap", "PodDisruptionBudget"):
                self.assertIn(k, kinds, name)
            if name == "redis-store" or "Deployment" in kinds:
                for k in ("Deployment", "Service"):
                    self.assertIn(k, kinds, name)
                self.assertTrue(self.mxd_containers(docs), name)

    def test_every_flag_and_env_in_the_manifests_is_one_mxd_accepts(self):
        for docs in self.all:
            cms = self.config_maps(docs)
            for d, c in self.mxd_containers(docs):
                for a in c.get("args", []) + c.get("command", [])[1:]:
                    m = re.match(r"--([a-z0-9-]+)", a)
                    self.assertTrue(m, a)
                    self.assertIn(m.group(1), self.flags, a)
                for e in c.get("env", []):
                    self.assertIn(e["name"], self.envs, e["name"])
                for ref in c.get("envFrom", []):
                    name = ref["configMapRef"]["name"]
                    self.assertIn(name, cms)
                    for key in cms[name]:
                        self.assertIn(key, self.envs, key)

    def test_env_values_parse_with_the_real_binary(self):
        # mxd rejects bad values at startup: feed it each ConfigMap with --help.
        for docs in self.all:
            for data in self.config_maps(docs).values():
                env = dict(os.environ, **{k: str(v) for k, v in data.items()})
                r = subprocess.run([MXD, "--help"], env=env, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_probes_and_ports_match_what_mxd_serves(self):
        for docs in self.all:
            services = [d for d in docs if d["kind"] == "Service"]
            is_cluster = docs is not self.sidecar
            for d, c in self.mxd_containers(docs):
                args = c.get("args", [])
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                listen = flag_value(args, "listen") or self.defaults["listen"]
                metrics = flag_value(args, "metrics-listen") or self.defaults["metrics-listen"]
                if "metrics" in ports:
                    self.assertEqual(ports["metrics"], int(metrics.rsplit(":", 1)[1]))
                if "grpc" in ports:
                    self.assertEqual(ports["grpc"], int(listen.rsplit(":", 1)[1]))
                for probe_name in ("readinessProbe", "livenessProbe"):
                    probe = c.get(probe_name)
                    self.assertIsNotNone(probe, probe_name)
                    if "grpc" in probe:
                        self.assertEqual(probe["grpc"]["port"], ports["grpc"])
                        self.assertIn(probe["grpc"].get("service", ""), ("", SERVICE))
                        self.assertFalse(listen.startswith("127."), "gRPC probe on loopback")
                    elif "tcpSocket" in probe:
                        self.assertIn(probe["tcpSocket"]["port"], list(ports) + list(ports.values()))
                    else:
                        http = probe["httpGet"]
                        self.assertIn(http["path"], ("/healthz", "/readyz"))
                        self.assertIn(http["port"], ("metrics", ports.get("metrics")))
                self.assertIn("requests", c.get("resources", {}))
                if is_cluster:
                    self.assertIn("grpc", c["readinessProbe"], "cluster readiness is gRPC health")
                    labels = d["spec"]["template"]["metadata"]["labels"]
                    matching = [s for s in services
                                if all(labels.get(k) == v for k, v in s["spec"]["selector"].items())]
                    self.assertTrue(matching, "no Service selects " + d["metadata"]["name"])
                    for s in matching:
                        for p in s["spec"]["ports"]:
                            self.assertIn(p["targetPort"], list(ports) + list(ports.values()))

    def test_disruption_budget_selects_the_mxd_pods(self):
        for docs in self.variants.values():
            pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
            self.assertTrue(pdbs)
            labels = [d["spec"]["template"]["metadata"]["labels"]
                      for d, _ in self.mxd_containers(docs)]
            if not labels:
                continue  # ConfigMap-store manifests not listed yet
            for pdb in pdbs:
                sel = pdb["spec"]["selector"]["matchLabels"]
                self.assertTrue(any(all(l.get(k) == v for k, v in sel.items()) for l in labels))

    def test_compose_file_uses_real_flags_and_envs(self):
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            compose = yaml.safe_load(f)
        mxd = compose["services"]["mxd"]
        for a in mxd.get("command", []):
            self.assertIn(re.match(r"--([a-z0-9-]+)", a).group(1), self.flags, a)
        for k in mxd.get("environment", {}):
            self.assertIn(k, self.envs, k)
        self.assertIn("redis", compose["services"])

    def test_sentinel_compose_file_uses_real_flags_and_envs(self):
        with open(os.path.join(DEPLOY, "compose-sentinel.yaml")) as f:
            compose = yaml.safe_load(f)
        mxds = [s for name, s in compose["services"].items() if name.startswith("mxd")]
        self.assertEqual(len(mxds), 2)
        for mxd in mxds:
            for a in mxd.get("command", []):
                self.assertIn(re.match(r"--([a-z0-9-]+)", a).group(1), self.flags, a)
            for k in mxd.get("environment", {}):
                self.assertIn(k, self.envs, k)
            self.assertIn("MX_REDIS_SENTINELS", mxd["environment"])
        sentinels = [n for n in compose["services"] if n.startswith("sentinel-")]
        self.assertEqual(len(sentinels), 3)

    def test_sentinel_overlay_points_mxd_at_the_sentinels_not_a_fixed_redis(self):
        docs = self.variants["redis-sentinel"]
        for _, c in self.mxd_containers(docs):
            env = {e["name"] for e in c.get("env", [])}
            self.assertIn("MX_REDIS_SENTINELS", env)
            self.assertIn("MX_REDIS_MASTER_NAME", env)
            self.assertNotIn("MX_REDIS_HOST", env)
        names = {(d["kind"], d["metadata"]["name"]) for d in docs}
        self.assertNotIn(("Deployment", "mxd-redis"), names)
        self.assertIn(("StatefulSet", "mxd-redis-sentinel"), names)

    def test_dockerfile_is_multi_stage_debian_12_and_non_root(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        froms = re.findall(r"^FROM (\S+)", text, re.M)
        self.assertGreaterEqual(len(froms), 2)
        self.assertTrue(all(f.startswith("debian:12") for f in froms), froms)
        final = text[text.rfind("\nFROM "):]
        self.assertNotIn("-dev", final, "build packages in the final image")
        user = re.findall(r"^USER (\S+)", final, re.M)
        self.assertTrue(user and not user[-1].startswith(("root", "0")), user)


class OperationsDoc(unittest.TestCase):
    def test_operations_doc_lists_every_flag_and_environment_variable(self):
        path = os.path.join(DEPLOY, "..", "docs", "operations.md")
        with open(path) as f:
            doc = f.read()
        missing = []
        for flag, _, envs, _ in help_entries():
            if "`--%s`" % flag not in doc:
                missing.append("--" + flag)
            for e in envs.split(","):
                if e.strip() and e.strip() not in doc:
                    missing.append(e.strip())
        self.assertFalse(missing, "docs/operations.md lacks %s; regenerate the table with "
                         "check_deploy.py --flag-table build/bin/mxd" % missing)


if __name__ == "__main__":
    if sys.argv[1] == "--flag-table":
        MXD = sys.argv[2]
        print(flag_table())
        sys.exit(0)
    MXD, DEPLOY = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
