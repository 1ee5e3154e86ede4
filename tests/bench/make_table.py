#!/usr/bin/env python3
"""Turns mx_loadgen RESULT lines (null server and mxd) into the markdown
table of docs/benchmarks.md, with mxd/null ratios and the issue-7 goals."""
import argparse


def load(path):
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if not parts or parts[0] not in ("RESULT", "ERROR"):
                    continue
                fields = dict(p.split("=", 1) for p in parts[1:2])
                name = fields["scenario"]
                if parts[0] == "ERROR":
                    rows[name] = {"error": " ".join(parts[2:])}
                    continue
                rows[name] = {k: float(v) for k, v in (p.split("=", 1) for p in parts[2:])}
    except FileNotFoundError:
        pass
    return rows


def fmt(v, digits=0):
    if v is None:
        return "—"
    if abs(v) >= 100 or digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    ap = argparse.ArgumentParser()
    for name in ("null", "mxd", "machine", "commit", "date", "seconds", "concurrency", "load"):
        ap.add_argument("--" + name, required=True)
    ap.add_argument("--parse-floor", default="")  # publish against mx_null_server --parse-publish
    a = ap.parse_args()
    null, mxd = load(a.null), load(a.mxd)
    floor = load(a.parse_floor) if a.parse_floor else {}
    names = list(dict.fromkeys(list(null) + list(mxd)))
    out = []
    out.append(f"- Machine: {a.machine}; server on one core, load generator on the other (`taskset`).")
    out.append(f"- Date: {a.date}; commit: `{a.commit}`; {a.load}.")
    out.append(f"- Load: {a.concurrency} calls in flight (64 for the heartbeat storm, 4 for the "
               f"100k-tensor and list-everything scenarios), {a.seconds} s per scenario after a "
               "0.5 s warm-up; fresh server per scenario.")
    out.append("")
    out.append("| Scenario | null QPS | mxd QPS | mxd/null QPS | null p50 µs | mxd p50 µs | "
               "null p99 µs | mxd p99 µs | mxd/null p99 | null p999 µs | mxd p999 µs | "
               "server CPU µs/call null | mxd | mxd/null CPU |")
    out.append("|" + "---|" * 14)
    for n in names:
        if n == "memory":
            continue
        x, y = null.get(n, {}), mxd.get(n, {})
        if "error" in x or "error" in y:
            out.append(f"| {n} | error: {x.get('error', '')} {y.get('error', '')} |" + " |" * 12)
            continue
        g = lambda d, k: d.get(k)
        label = n
        if n == "fleet_start":
            label = (f"fleet_start ({int(y.get('targets', 0) or x.get('targets', 0))} targets; "
                     f"wall ms null {fmt(g(x, 'wall_ms'))} / mxd {fmt(g(y, 'wall_ms'))} = "
                     f"{fmt(ratio(g(y, 'wall_ms'), g(x, 'wall_ms')), 2)}×)")
        if n == "heartbeat_storm":
            label = (f"heartbeat_storm (10,000 workers; ms per storm null "
                     f"{fmt(g(x, 'storm_ms'))} / mxd {fmt(g(y, 'storm_ms'))})")
        out.append("| " + " | ".join([
            label, fmt(g(x, "qps")), fmt(g(y, "qps")), fmt(ratio(g(y, "qps"), g(x, "qps")), 2),
            fmt(g(x, "p50_us")), fmt(g(y, "p50_us")), fmt(g(x, "p99_us")), fmt(g(y, "p99_us")),
            fmt(ratio(g(y, "p99_us"), g(x, "p99_us")), 2), fmt(g(x, "p999_us")),
            fmt(g(y, "p999_us")), fmt(g(x, "server_cpu_us_per_call"), 1),
            fmt(g(y, "server_cpu_us_per_call"), 1),
            fmt(ratio(g(y, "server_cpu_us_per_call"), g(x, "server_cpu_us_per_call")), 2)]) + " |")
    mem = mxd.get("memory", {})
    if mem and "error" not in mem:
        out.append("")
        out.append(f"Memory: {int(mem['workers'])} workers of 3,000 tensors + 240 KiB NIXL blob "
                   f"(PublishMetadataRequest {fmt(mem['serialized_bytes'])} bytes): mxd resident "
                   f"{fmt(mem['rss_bytes_per_worker'])} bytes per stored worker = "
                   f"**{mem['ratio']:.2f}× serialized** (null server: "
                   f"{fmt(null.get('memory', {}).get('rss_bytes_per_worker'))} bytes per worker).")

    # The goals of issue 7.
    def goal(text, value, limit, higher_is_better):
        if value is None:
            return f"| {text} | — | not measured |"
        met = value >= limit if higher_is_better else value <= limit
        return f"| {text} | {value:.2f} | {'met' if met else '**missed**'} |"

    gm_x, gm_y = null.get("get_metadata", {}), mxd.get("get_metadata", {})
    lf_s, lf_l = mxd.get("list_filtered_100", {}), mxd.get("list_filtered_10000", {})
    pub_x, pub_y = null.get("publish", {}), mxd.get("publish", {})
    fl_x, fl_y = null.get("fleet_start", {}), mxd.get("fleet_start", {})
    out.append("")
    out.append("| Goal | measured | |")
    out.append("|---|---|---|")
    out.append(goal("GetMetadata QPS ≥ 0.9× null", ratio(gm_y.get("qps"), gm_x.get("qps")), 0.9, True))
    out.append(goal("GetMetadata p99 ≤ 1.5× null", ratio(gm_y.get("p99_us"), gm_x.get("p99_us")), 1.5, False))
    out.append(goal("ListSources filtered p50, 10,000 stored ≤ 1.2× 100 stored",
                    ratio(lf_l.get("p50_us"), lf_s.get("p50_us")), 1.2, False))
    out.append(goal("ListSources filtered p99, 10,000 stored ≤ 1.2× 100 stored",
                    ratio(lf_l.get("p99_us"), lf_s.get("p99_us")), 1.2, False))
    out.append(goal("Publish QPS ≥ 0.8× null", ratio(pub_y.get("qps"), pub_x.get("qps")), 0.8, True))
    out.append(goal("Fleet start wall time ≤ 1.5× null", ratio(fl_y.get("wall_ms"), fl_x.get("wall_ms")), 1.5, False))
    out.append(goal("Memory ≤ 1.5× serialized bytes per worker", mem.get("ratio"), 1.5, False))
    # Issue 16 items 1 and 3.
    pf = floor.get("publish", {})
    la_x, la_y = null.get("list_all_10000", {}), mxd.get("list_all_10000", {})
    out.append(goal("Publish QPS ≥ 1.0× the parse floor", ratio(pub_y.get("qps"), pf.get("qps")), 1.0, True))
    out.append(goal("Unfiltered ListSources (10,000) server CPU per call ≤ 3× null",
                    ratio(la_y.get("server_cpu_us_per_call"), la_x.get("server_cpu_us_per_call")),
                    3.0, False))
    if pf and "error" not in pf:
        out.append("")
        out.append("| Publish (3,000 tensors) | QPS | p50 µs | p99 µs | server CPU µs/call |")
        out.append("|---|---|---|---|---|")
        for label, d in (("null (reads and drops)", pub_x), ("parse floor (parses on an arena)", pf),
                         ("mxd", pub_y)):
            out.append(f"| {label} | {fmt(d.get('qps'))} | {fmt(d.get('p50_us'))} | "
                       f"{fmt(d.get('p99_us'))} | {fmt(d.get('server_cpu_us_per_call'), 1)} |")
        out.append(f"| mxd / parse floor | {fmt(ratio(pub_y.get('qps'), pf.get('qps')), 2)} | | | "
                   f"{fmt(ratio(pub_y.get('server_cpu_us_per_call'), pf.get('server_cpu_us_per_call')), 2)} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
