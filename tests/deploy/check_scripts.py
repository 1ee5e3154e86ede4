#!/usr/bin/env python3
"""Checks the newcomer scripts with stand-ins for apt, cmake and ctest:

- tests/run-all.sh ends with the ctest count line and a non-zero exit when
  ctest fails, still running the fuzzers, and also when the build fails;
- deploy/debian/install-deps.sh --if-missing runs no apt-get at all when
  every package is installed, and installs only the missing ones otherwise;
- deploy/debian/run-mxd.sh builds mxd and mxctl, says where they are, and
  installs packages only when missing.

Usage: check_scripts.py SOURCE_DIR
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

SOURCE = None


def write(path, text, executable=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    if executable:
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class Sandbox:
    """A copy of the scripts in a temp tree plus a bin/ of logging stand-ins."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mx-scripts-")
        self.tree = os.path.join(self.dir, "tree")
        self.bin = os.path.join(self.dir, "bin")
        self.log = os.path.join(self.dir, "calls.log")
        for rel in ("tests/run-all.sh", "deploy/debian/install-deps.sh",
                    "deploy/debian/run-mxd.sh"):
            dst = os.path.join(self.tree, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(SOURCE, rel), dst)
        for tool in ("apt-get", "apt-cache", "sudo"):
            self.stub(tool, "exit 0")

    def stub(self, name, body):
        write(os.path.join(self.bin, name),
              "#!/bin/sh\necho \"%s $*\" >> \"%s\"\n%s\n" % (name, self.log, body), True)

    def run(self, rel, *args, env=None):
        e = dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"], **(env or {}))
        return subprocess.run([os.path.join(self.tree, rel)] + list(args), env=e,
                              capture_output=True, text=True, timeout=120)

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class RunAll(unittest.TestCase):
    def setUp(self):
        self.box = Sandbox()
        self.box.stub("dpkg-query", "echo 'install ok installed'")
        self.box.stub("cmake", "exit 0")
        write(os.path.join(self.box.tree, "tests/fuzz/run_fuzzers.sh"),
              "#!/bin/sh\necho \"fuzzers $*\" >> \"%s\"\n" % self.box.log, True)

    def tearDown(self):
        self.box.close()

    def test_a_failing_ctest_still_ends_with_the_count_and_exits_non_zero(self):
        self.box.stub("ctest", "echo '99% tests passed, 1 tests failed out of 300'; exit 8")
        r = self.box.run("tests/run-all.sh", env={"MX_FUZZ_SECONDS": "1"})
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertTrue(lines, r.stderr)
        self.assertTrue(lines[-1].startswith("ctest: 299 passed, 1 failed"), lines[-1])
        self.assertIn("fuzzers 1", self.box.calls(), "fuzzers skipped after a ctest failure")

    def test_a_green_run_ends_with_the_count_and_exits_zero(self):
        self.box.stub("ctest", "echo '100% tests passed, 0 tests failed out of 300'")
        r = self.box.run("tests/run-all.sh", env={"MX_FUZZ_SECONDS": "0"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "ctest: 300 passed, 0 failed")

    def test_a_failing_build_still_ends_with_a_closing_line(self):
        self.box.stub("cmake", 'case "$*" in *--build*) exit 2;; esac; exit 0')
        self.box.stub("ctest", "echo never; exit 0")
        r = self.box.run("tests/run-all.sh", env={"MX_FUZZ_SECONDS": "0"})
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stdout.strip().splitlines()[-1].startswith("ctest: no count"), r.stdout)
        self.assertNotIn("ctest", " ".join(c.split()[0] for c in self.box.calls()))


class InstallDeps(unittest.TestCase):
    def setUp(self):
        self.box = Sandbox()

    def tearDown(self):
        self.box.close()

    def test_nothing_runs_when_every_package_is_installed(self):
        self.box.stub("dpkg-query", "echo 'install ok installed'")
        r = self.box.run("deploy/debian/install-deps.sh", "--runtime-only", "--if-missing")
        self.assertEqual(r.returncode, 0, r.stderr)
        tools = [c.split()[0] for c in self.box.calls()]
        self.assertNotIn("apt-get", tools)
        self.assertNotIn("sudo", tools)
        self.assertIn("dpkg-query", tools)

    def test_only_the_missing_packages_are_installed(self):
        self.box.stub("dpkg-query",
                      'case "$*" in *libhiredis-dev*) echo "unknown ok not-installed";; '
                      '*) echo "install ok installed";; esac')
        r = self.box.run("deploy/debian/install-deps.sh", "--runtime-only", "--if-missing")
        self.assertEqual(r.returncode, 0, r.stderr)
        installs = [c for c in self.box.calls() if c.startswith("apt-get") and " install " in c]
        if os.getuid() == 0:
            self.assertEqual(len(installs), 1, self.box.calls())
            self.assertTrue(installs[0].endswith(" libhiredis-dev"), installs[0])
        else:
            self.assertTrue(any(c.startswith("sudo") for c in self.box.calls()))


class RunMxd(unittest.TestCase):
    def setUp(self):
        self.box = Sandbox()
        self.box.stub("dpkg-query", "echo 'install ok installed'")
        self.box.stub("cmake", "exit 0")
        bindir = os.path.join(self.box.dir, "release", "bin")
        write(os.path.join(bindir, "mxd"), "#!/bin/sh\necho \"mxd $*\" >> \"%s\"\n" %
              self.box.log, True)

    def tearDown(self):
        self.box.close()

    def test_builds_mxd_and_mxctl_names_them_and_runs_mxd_without_apt(self):
        release = os.path.join(self.box.dir, "release")
        r = self.box.run("deploy/debian/run-mxd.sh", "--listen", "127.0.0.1:0",
                         env={"MX_RELEASE_BUILD_DIR": release})
        self.assertEqual(r.returncode, 0, r.stderr)
        calls = self.box.calls()
        builds = [c for c in calls if c.startswith("cmake --build")]
        self.assertTrue(builds, calls)
        self.assertIn("mxd", builds[0].split())
        self.assertIn("mxctl", builds[0].split())
        self.assertIn(os.path.join(release, "bin", "mxd"), r.stderr)
        self.assertIn(os.path.join(release, "bin", "mxctl"), r.stderr)
        self.assertIn("mxd --listen 127.0.0.1:0", calls)
        self.assertFalse([c for c in calls if c.startswith("apt-get")], calls)


if __name__ == "__main__":
    SOURCE = sys.argv[1]
    unittest.main(argv=[sys.argv[0], "-v"])
