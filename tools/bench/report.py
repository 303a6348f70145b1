#!/usr/bin/python3
"""report.py RESULTS_DIR -- folds RESULTS_DIR/raw.jsonl (one line per measurement, written by
GuestAgent.Bench and peers/drivers.py) into results.json and table.md: per figure the median of
the runs, with min and max, and which Zaqar (or other transport) it used."""
import json
import os
import statistics
import sys

WORKLOADS = [
    ("latency", "1. Call latency, sequential (`exec true`; Murano: `true`/`echo` plans)"),
    ("throughput", "2. Throughput"),
    ("idle", "3a. Idle cost (after the settle time, measured window)"),
    ("load", "3b. Cost under load"),
    ("recovery", "4. Recovery after kill -9"),
    ("file", "5. File transfer through the queue"),
    ("scale", "6. Scale: many bindings, one Zaqar"),
    ("idle-first", "7. Idle to first command"),
]
WHO = ["guest-agent", "floor", "zaqar-server", "murano-agent", "rabbitmq-floor", "rabbitmq", "qemu-ga", "os-collect-config"]
WHO_NAME = {"floor": "Zaqar floor (no agent)", "rabbitmq-floor": "RabbitMQ floor (no agent)", "rabbitmq": "RabbitMQ broker"}
# Peers without a figure for a workload, and why (the table says so instead of leaving a gap).
NOT_MEASURED = {
    "recovery": [("murano-agent", "not measured: acks a plan before running it and re-runs a spooled plan after a restart, no casts to count"),
                 ("qemu-ga", "none: exec records live in memory; after a restart the pids are unknown"),
                 ("os-collect-config", "n/a: runs no commands")],
    "file": [("murano-agent", "not measured: files travel only inside a plan (Base64 in JSON)"),
             ("qemu-ga", "not measured: guest-file-read/write, Base64 in JSON, up to 48 MiB a call"),
             ("os-collect-config", "n/a")],
    "scale": [("murano-agent", "one AMQP consumer per agent; RabbitMQ pushes, no polling"),
              ("os-collect-config", "one process per guest")],
    "idle-first": [("murano-agent", "no polling (RabbitMQ pushes): the first plan costs what any plan costs (table 1)"),
                   ("qemu-ga", "no polling (a local socket)"),
                   ("os-collect-config", "not measured: at idle it polls every 30 s (polling-interval)")],
}


def fmt(v, unit):
    if unit in ("%",):
        return f"{v:.2f}"
    if unit in ("x", "s"):
        return f"{v:.2f}"
    if unit == "":
        return f"{v:.0f}"
    return f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def main(out):
    rows = {}
    with open(os.path.join(out, "raw.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            key = (r["workload"], r["who"], r["what"], r["unit"], r.get("bed", ""))
            rows.setdefault(key, []).append(r["value"])
    meta = {}
    if os.path.exists(os.path.join(out, "meta.txt")):
        with open(os.path.join(out, "meta.txt")) as f:
            meta = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
    figures = [{"workload": w, "who": who, "what": what, "unit": unit, "bed": bed,
                "median": statistics.median(v), "min": min(v), "max": max(v), "runs": len(v), "values": v}
               for (w, who, what, unit, bed), v in rows.items()]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "figures": figures}, f, indent=1)

    order = {w: i for i, w in enumerate(WHO)}
    md = [f"Measured {meta.get('date', '?')} ({meta.get('mode', '?')} mode) on {meta.get('machine', '?')}, "
          f"commit {meta.get('commit', '?')}. Median of the runs (min .. max); runs = how many.", ""]
    for w, title in WORKLOADS:
        fs = sorted((x for x in figures if x["workload"] == w), key=lambda x: (order.get(x["who"], 99), x["bed"]))
        if not fs and w not in NOT_MEASURED:
            continue
        md += [f"#### {title}", "", "| who | figure | transport | median | min .. max | runs |", "|---|---|---|---|---|---|"]
        for x in fs:
            u = x["unit"]
            md.append(f"| {WHO_NAME.get(x['who'], x['who'])} | {x['what']} | {x['bed']} | {fmt(x['median'], u)} {u} | "
                      f"{fmt(x['min'], u)} .. {fmt(x['max'], u)} | {x['runs']} |")
        for who, why in NOT_MEASURED.get(w, []):
            md.append(f"| {who} | {why} | | | | |")
        md.append("")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1])
