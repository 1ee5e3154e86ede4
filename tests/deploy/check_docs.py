#!/usr/bin/env python3
"""Checks every flag table in README.md and docs/*.md against `mxd --help`.

A flag table is a markdown table whose header names both a flag and an
environment column. In each of its rows:
  - every `--flag` is one mxd accepts;
  - every environment variable named is one mxd reads (`MX_TLS_*` style
    wildcards must match at least one);
  - every variable of each flag in the row is named (or covered by a wildcard);
  - a single flag's default, when the default cell is one `value`, is mxd's.
The store documents must list every flag of their store.

Usage: check_docs.py MXD_BINARY SOURCE_DIR
"""
import glob
import os
import re
import subprocess
import sys
import unittest

MXD = None
SOURCE = None
# A variable, or a wildcard such as MX_TLS_* (tried first).
ENV_RE = re.compile(r"\b(?:MX|REDIS|POD)_[A-Z0-9_]*_\*|\b(?:MX|REDIS|POD)_[A-Z0-9_]*[A-Z0-9]\b")


def help_options():
    """{flag: (envs, default)} and every variable named anywhere in --help."""
    out = subprocess.run([MXD, "--help"], check=True, capture_output=True, text=True).stdout
    options = {}
    for flag, envs, default in re.findall(
            r"^  --([a-z0-9-]+)\S*\n      .*\n      env: (.*); default: (.*)$", out, re.M):
        options[flag] = ([e.strip() for e in envs.split(",") if e.strip()], default)
    named = set(re.findall(r"\b(?:MX|REDIS|POD)_[A-Z0-9_]*[A-Z0-9]\b", out))
    return options, named


def doc_paths():
    return [os.path.join(SOURCE, "README.md")] + sorted(
        glob.glob(os.path.join(SOURCE, "docs", "**", "*.md"), recursive=True))


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def flag_tables(path):
    """(line number, header cells, row cells) for each row of each flag table."""
    with open(path) as f:
        lines = f.read().split("\n")
    rows = []
    header = None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = cells(line)
            h = " ".join(header).lower()
            is_flag_table = "flag" in h and "env" in h
            if not is_flag_table:
                header = []
            continue
        if not header or re.match(r"^\|[-| :]+\|$", line.strip()):
            continue
        rows.append((i + 1, header, cells(line)))
    return rows


def flags_in(text):
    return re.findall(r"`--([a-z0-9-]+)(?:[ =][^`]*)?`", text)


def covered(env, row_text):
    if re.search(r"\b%s\b" % re.escape(env), row_text):
        return True
    return any(env.startswith(w[:-1]) for w in re.findall(r"\b[A-Z0-9_]+_\*", row_text))


class DocFlagTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.options, cls.named = help_options()

    def test_help_has_the_options_this_test_reads(self):
        self.assertIn("listen", self.options)
        self.assertIn("MX_METADATA_BACKEND", self.options["store"][0])

    def test_docs_have_flag_tables(self):
        for name in ("README.md", "docs/operations.md", "docs/redis-store.md",
                     "docs/kubernetes-store.md"):
            self.assertTrue(flag_tables(os.path.join(SOURCE, name)), name)

    def test_every_flag_table_row_matches_mxd_help(self):
        problems = []
        for path in doc_paths():
            rel = os.path.relpath(path, SOURCE)
            for line, header, row in flag_tables(path):
                text = " | ".join(row)
                where = "%s:%d" % (rel, line)
                # A row documents the flags of its first cell; flags named in
                # its description are only checked to exist.
                flags = flags_in(row[0]) if row else []
                for flag in flags_in(text):
                    if flag not in self.options:
                        problems.append("%s: --%s is not an mxd flag" % (where, flag))
                for env in ENV_RE.findall(text):
                    if env.endswith("*"):
                        if not any(n.startswith(env[:-1]) for n in self.named):
                            problems.append("%s: %s matches no variable" % (where, env))
                    elif env not in self.named:
                        problems.append("%s: %s is not a variable mxd reads" % (where, env))
                for flag in flags:
                    for env in self.options.get(flag, ([], ""))[0]:
                        if not covered(env, text):
                            problems.append("%s: --%s row lacks %s" % (where, flag, env))
                default_col = next((i for i, h in enumerate(header) if "default" in h.lower()),
                                   None)
                if len(set(flags)) == 1 and default_col is not None and default_col < len(row):
                    m = re.fullmatch(r"`([^`]*)`", row[default_col])
                    expected = self.options.get(flags[0], ([], None))[1]
                    if m and expected is not None and m.group(1) != expected:
                        problems.append("%s: --%s default is `%s`, mxd says `%s`" %
                                        (where, flags[0], m.group(1), expected))
        self.assertFalse(problems, "\n" + "\n".join(problems))

    def test_store_documents_list_every_flag_of_their_store(self):
        owned = {"docs/redis-store.md": lambda f: f.startswith("redis-"),
                 "docs/kubernetes-store.md": lambda f: f.startswith("k8s-") or f == "namespace",
                 "docs/operations.md": lambda f: True}
        for name, owns in owned.items():
            listed = set()
            for _, _, row in flag_tables(os.path.join(SOURCE, name)):
                listed.update(flags_in(" | ".join(row)))
            missing = sorted(f for f in self.options if owns(f) and f not in listed)
            self.assertFalse(missing, "%s lacks rows for %s" % (name, missing))


if __name__ == "__main__":
    MXD, SOURCE = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
