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
    ("file", "5. File transfer (guest-agent: through the queue; peers: their own way, see the notes)"),
    ("scale", "6. Scale: many bindings, one Zaqar"),
    ("idle-first", "7. Idle to first command"),
    ("cold-start", "9. Cold start (a fresh agent on an empty state directory; a call posted before it starts)"),
]
WHO = ["guest-agent", "floor", "push-floor", "amqp-floor", "spawn-floor", "journal-floor", "zaqar-server", "murano-agent", "rabbitmq-floor", "rabbitmq", "qemu-ga", "os-collect-config"]
WHO_NAME = {"floor": "Zaqar floor (no agent)", "spawn-floor": "process start from .NET (no agent)", "journal-floor": "one journal write (no agent)", "push-floor": "Zaqar floor as push makes it (no agent; announced, then claimed)", "amqp-floor": "RabbitMQ floor, confirmed (no agent)",
            "rabbitmq-floor": "RabbitMQ floor (no agent)", "rabbitmq": "RabbitMQ broker"}
# Per workload, what a peer's figures mean or why a peer has none (the table says so instead of
# leaving a gap).
NOT_MEASURED = {
    "recovery": [("murano-agent", "at least once: it acks a plan when it has spooled it and runs a spooled plan again after a restart; "
                                  "plans queued in RabbitMQ wait there (`true` plans, one line each into an effects file to count reruns). "
                                  "A kill while it writes a result leaves an empty result.json that the restarted agent fails to parse "
                                  "every 5 s, taking no other plan: that run's remaining plans count as lost (the bench then empties "
                                  "its spool and queue and restarts it)"),
                 ("qemu-ga", "exec records live in memory: after the restart guest-exec-status knows none of the old pids "
                             "(the processes themselves ran on, orphaned)"),
                 ("os-collect-config", "n/a: runs no commands")],
    "file": [("murano-agent", "put: the file inside the plan (Files, BodyType Base64); 10.0.0 decodes a Base64 body to text, so a binary "
                              "file fails (UnicodeDecodeError): measured with random 7-bit bytes. get: no such op; a script's stdout "
                              "(`base64 -w0 FILE`) in the result. Timed publish to result, sha256 checked"),
             ("qemu-ga", "guest-file-open/write/read/close on the socket, Base64 in JSON; timed open to close, sha256 checked"),
             ("os-collect-config", "n/a")],
    "scale": [("murano-agent", "one AMQP consumer per agent; RabbitMQ pushes, no polling"),
              ("os-collect-config", "one process per guest")],
    "idle-first": [("murano-agent", "no polling (RabbitMQ pushes): the first plan costs what any plan costs (table 1)"),
                   ("qemu-ga", "no polling (a local socket)"),
                   ("os-collect-config", "not measured: at idle it polls every 30 s (polling-interval)")],
}


U = "uwsgi, 4 processes"
COLD_REPLY = "start to first command's reply (exec true posted before start)"
W = "zaqar-server, 1 process"
# The push beds: the same servers with Zaqar's WebSocket server beside them (and the notifier on).
PU = U + " + WebSocket"
PW = W + " + WebSocket"
R = "RabbitMQ 3.10.8"
Q = "unix socket"
COLS = ["guest-agent", "Zaqar floor", "murano-agent", "RabbitMQ floor", "qemu-ga", "os-collect-config"]
# The side-by-side summary: per row, per column, the figures (workload, who, what, bed) joined by " / ".
SUMMARY = [
    ("1. exec true call, p50 / p95 (uwsgi Zaqar)", {
        "guest-agent": [("latency", "guest-agent", "exec true p50", U), ("latency", "guest-agent", "exec true p95", U)],
        "Zaqar floor": [("latency", "floor", "exec true p50", U), ("latency", "floor", "exec true p95", U)],
        "murano-agent": [("latency", "murano-agent", "true plan p50", R), ("latency", "murano-agent", "true plan p95", R)],
        "RabbitMQ floor": [("latency", "rabbitmq-floor", "2-hop round trip p50", R), ("latency", "rabbitmq-floor", "2-hop round trip p95", R)],
        "qemu-ga": [("latency", "qemu-ga", "exec true p50", Q), ("latency", "qemu-ga", "exec true p95", Q)]}),
    ("1. exec true call, p50 / p95 (zaqar-server)", {
        "guest-agent": [("latency", "guest-agent", "exec true p50", W), ("latency", "guest-agent", "exec true p95", W)],
        "Zaqar floor": [("latency", "floor", "exec true p50", W), ("latency", "floor", "exec true p95", W)]}),
    ("1. echo plan, p50 / p95", {
        "murano-agent": [("latency", "murano-agent", "echo plan p50", R), ("latency", "murano-agent", "echo plan p95", R)]}),
    ("2. calls/s, 1 / 8 / 32 callers (uwsgi Zaqar)", {
        "guest-agent": [("throughput", "guest-agent", f"calls/s, {n} callers", U) for n in (1, 8, 32)],
        "Zaqar floor": [("throughput", "floor", f"raw Zaqar cycles/s, {n} workers", U) for n in (1, 8, 32)],
        "murano-agent": [("throughput", "murano-agent", f"plans/s, {n} in flight", R) for n in (1, 8, 32)],
        "RabbitMQ floor": [("throughput", "rabbitmq-floor", f"round trips/s, {n} in flight", R) for n in (1, 8, 32)],
        "qemu-ga": [("throughput", "qemu-ga", "execs/s, 1 caller (serial channel)", Q)]}),
    ("3. idle RSS", {
        "guest-agent": [("idle", "guest-agent", "idle (1 binding) RSS", "")],
        "murano-agent": [("idle", "murano-agent", "idle RSS", "")],
        "RabbitMQ floor": [("idle", "rabbitmq", "idle broker (beam) RSS", "")],
        "qemu-ga": [("idle", "qemu-ga", "idle RSS", "")],
        "os-collect-config": [("idle", "os-collect-config", "idle RSS", "")]}),
    ("3. idle CPU (% of one core)", {
        "guest-agent": [("idle", "guest-agent", "idle (1 binding) CPU %", "")],
        "murano-agent": [("idle", "murano-agent", "idle CPU %", "")],
        "RabbitMQ floor": [("idle", "rabbitmq", "idle broker (beam) CPU %", "")],
        "qemu-ga": [("idle", "qemu-ga", "idle CPU %", "")],
        "os-collect-config": [("idle", "os-collect-config", "idle CPU %", "")]}),
    ("3. idle Zaqar requests/s", {
        "guest-agent": [("idle", "guest-agent", "idle (1 binding) Zaqar requests/s", U)],
        "os-collect-config": [("idle", "os-collect-config", "idle Zaqar requests/s", "zaqar-server + keystone")]}),
    ("3. CPU % / RSS under load, 1 caller", {
        "guest-agent": [("load", "guest-agent", "CPU % under load, 1 callers", U), ("load", "guest-agent", "RSS under load, 1 callers", U)],
        "murano-agent": [("load", "murano-agent", "under load (1 plan in flight) CPU %", ""), ("load", "murano-agent", "under load (1 plan in flight) RSS", "")]}),
    ("4. kill -9 with 100 in flight: restart to all final", {
        "guest-agent": [("recovery", "guest-agent", "restart to all 100 casts final", U)],
        "murano-agent": [("recovery", "murano-agent", "restart to all 100 plans' results", R, "{v} {u}"),
                         ("recovery", "murano-agent", "results lost (of 100)", R, "worst of {runs} runs: {max} lost"),
                         ("recovery", "murano-agent", "results duplicated (of 100)", R, "{max} results twice"),
                         ("recovery", "murano-agent", "plans run more than once (of 100)", R, "{max} plans run twice")],
        "qemu-ga": [("recovery", "qemu-ga", "execs known after restart (of 100)", Q, "execs known after restart: {max} of 100")]}),
    ("5. file put / get (guest-agent); floor: raw post+claim+delete / a put's round trips without an agent", {
        "guest-agent": [("file", "guest-agent", "{mib} MiB: put through the queue (SDK, window {window})", U),
                        ("file", "guest-agent", "{mib} MiB: get through the queue (SDK)", U)],
        "Zaqar floor": [("file", "floor", "{mib} MiB: raw Zaqar post+claim+delete, window {window}", U),
                        ("file", "floor", "{mib} MiB: raw put round trips (chunk, reply), window {window}", U)],
        "murano-agent": [("file", "murano-agent", "{mib} MiB: put inside a plan (Base64 file in the plan's JSON)", R),
                         ("file", "murano-agent", "{mib} MiB: get as a script's stdout (base64 in the result's JSON)", R)],
        "qemu-ga": [("file", "qemu-ga", "{mib} MiB: put, guest-file-write ({chunk} MiB Base64 a call)", Q),
                    ("file", "qemu-ga", "{mib} MiB: get, guest-file-read ({chunk} MiB a call)", Q)]}),
    ("6. 100 bindings idle: RSS / CPU / Zaqar req/s", {
        "guest-agent": [("scale", "guest-agent", "100 bindings idle RSS", ""), ("scale", "guest-agent", "100 bindings idle CPU %", ""),
                        ("scale", "guest-agent", "100 bindings idle Zaqar requests/s", U)]}),
    ("6. 200 bindings' pollers: Zaqar req/s / Zaqar CPU", {
        "guest-agent": [("scale", "guest-agent", "200 bindings idle Zaqar requests/s", U), ("scale", "zaqar-uwsgi", "serving 200 idle bindings CPU %", "")]}),
    ("7. first call after idle p50 / p95: max-interval 1s", {
        "guest-agent": [("idle-first", "guest-agent", "first call p50, max-interval 1s", U), ("idle-first", "guest-agent", "first call p95, max-interval 1s", U)]}),
    ("7. ... 5s (default)", {
        "guest-agent": [("idle-first", "guest-agent", "first call p50, max-interval 5s (default)", U), ("idle-first", "guest-agent", "first call p95, max-interval 5s (default)", U)]}),
    ("7. ... 15s", {
        "guest-agent": [("idle-first", "guest-agent", "first call p50, max-interval 15s", U), ("idle-first", "guest-agent", "first call p95, max-interval 15s", U)]}),
    ("7. idle Zaqar requests/s per binding: 1s / 5s / 15s", {
        "guest-agent": [("idle", "guest-agent", f"idle per binding, max-interval {m} Zaqar requests/s", U) for m in ("1s", "5s (default)", "15s")]}),
    ("9. cold start: first claim / first reply (call posted before the start)", {
        "guest-agent": [("cold-start", "guest-agent", "start to first claim answered", U),
                        ("cold-start", "guest-agent", COLD_REPLY, U)]}),
]


# Polling and push side by side, each with the floor of its own bed, and what the agent adds over
# it (the same figure of the same code for both: per run ours - floor, or ours / floor).
PUSH_COLS = ["polling", "push", "Zaqar floor, polling bed", "Zaqar floor, push bed", "added over floor: polling", "added over floor: push",
             "push floor (announced claims)", "added over push floor"]
PUSH_SUMMARY = [
    ("1. exec true call, p50 / p95 (uwsgi Zaqar)", {
        "polling": [("latency", "guest-agent", f"exec true {p}", U) for p in ("p50", "p95")],
        "push": [("latency", "guest-agent", f"exec true {p}", PU) for p in ("p50", "p95")],
        "Zaqar floor, polling bed": [("latency", "floor", f"exec true {p}", U) for p in ("p50", "p95")],
        "Zaqar floor, push bed": [("latency", "floor", f"exec true {p}", PU) for p in ("p50", "p95")],
        "added over floor: polling": [("latency", "guest-agent", f"added over floor {p}", U) for p in ("p50", "p95")],
        "added over floor: push": [("latency", "guest-agent", f"added over floor {p}", PU) for p in ("p50", "p95")],
        "push floor (announced claims)": [("latency", "push-floor", f"exec true {p}", PU) for p in ("p50", "p95")],
        "added over push floor": [("latency", "guest-agent", f"added over push floor {p}", PU) for p in ("p50", "p95")]}),
    ("1. exec true call, p50 / p95 (zaqar-server)", {
        "polling": [("latency", "guest-agent", f"exec true {p}", W) for p in ("p50", "p95")],
        "push": [("latency", "guest-agent", f"exec true {p}", PW) for p in ("p50", "p95")],
        "Zaqar floor, polling bed": [("latency", "floor", f"exec true {p}", W) for p in ("p50", "p95")],
        "Zaqar floor, push bed": [("latency", "floor", f"exec true {p}", PW) for p in ("p50", "p95")],
        "added over floor: polling": [("latency", "guest-agent", f"added over floor {p}", W) for p in ("p50", "p95")],
        "added over floor: push": [("latency", "guest-agent", f"added over floor {p}", PW) for p in ("p50", "p95")],
        "push floor (announced claims)": [("latency", "push-floor", f"exec true {p}", PW) for p in ("p50", "p95")],
        "added over push floor": [("latency", "guest-agent", f"added over push floor {p}", PW) for p in ("p50", "p95")]}),
    ("2. calls/s, 1 / 8 / 32 callers (uwsgi Zaqar); added: ratio to raw Zaqar", {
        "polling": [("throughput", "guest-agent", f"calls/s, {n} callers", U) for n in (1, 8, 32)],
        "push": [("throughput", "guest-agent", f"calls/s, {n} callers", PU) for n in (1, 8, 32)],
        "Zaqar floor, polling bed": [("throughput", "floor", f"raw Zaqar cycles/s, {n} workers", U) for n in (1, 8, 32)],
        "Zaqar floor, push bed": [("throughput", "floor", f"raw Zaqar cycles/s, {n} workers", PU) for n in (1, 8, 32)],
        "added over floor: polling": [("throughput", "guest-agent", f"ratio to raw Zaqar, {n} callers", U) for n in (1, 8, 32)],
        "added over floor: push": [("throughput", "guest-agent", f"ratio to raw Zaqar, {n} callers", PU) for n in (1, 8, 32)],
        "push floor (announced claims)": [("throughput", "push-floor", f"announced cycles/s, {n} workers", PU) for n in (1, 8, 32)],
        "added over push floor": [("throughput", "guest-agent", f"ratio to the push floor, {n} callers", PU) for n in (1, 8, 32)]}),
    ("2. calls/s, 1 caller (zaqar-server); added: ratio to raw Zaqar", {
        "polling": [("throughput", "guest-agent", "calls/s, 1 callers", W)],
        "push": [("throughput", "guest-agent", "calls/s, 1 callers", PW)],
        "Zaqar floor, polling bed": [("throughput", "floor", "raw Zaqar cycles/s, 1 workers", W)],
        "Zaqar floor, push bed": [("throughput", "floor", "raw Zaqar cycles/s, 1 workers", PW)],
        "added over floor: polling": [("throughput", "guest-agent", "ratio to raw Zaqar, 1 callers", W)],
        "added over floor: push": [("throughput", "guest-agent", "ratio to raw Zaqar, 1 callers", PW)]}),
    ("3. idle agent (1 binding): RSS / CPU / Zaqar req/s", {
        "polling": [("idle", "guest-agent", "idle (1 binding) RSS", ""), ("idle", "guest-agent", "idle (1 binding) CPU %", ""),
                    ("idle", "guest-agent", "idle (1 binding) Zaqar requests/s", U)],
        "push": [("idle", "guest-agent", "push idle (1 binding) RSS", ""), ("idle", "guest-agent", "push idle (1 binding) CPU %", ""),
                 ("idle", "guest-agent", "push idle (1 binding) Zaqar requests/s", PU)]}),
    ("6. 200 bindings idle: agent RSS / agent CPU / Zaqar req/s / Zaqar CPU (push: + WebSocket server)", {
        "polling": [("scale", "guest-agent", "200 bindings idle RSS", ""), ("scale", "guest-agent", "200 bindings idle CPU %", ""),
                    ("scale", "guest-agent", "200 bindings idle Zaqar requests/s", U), ("scale", "zaqar-uwsgi", "serving 200 idle bindings CPU %", "")],
        "push": [("scale", "guest-agent", "push 200 bindings idle RSS", ""), ("scale", "guest-agent", "push 200 bindings idle CPU %", ""),
                 ("scale", "guest-agent", "push 200 bindings idle Zaqar requests/s", PU),
                 ("scale", "zaqar-uwsgi", "serving 200 idle push bindings (uwsgi + WebSocket server) CPU %", "")]}),
    ("7. first call after idle, p50 / p95 (polling: default max-interval 5s)", {
        "polling": [("idle-first", "guest-agent", f"first call {p}, max-interval 5s (default)", U) for p in ("p50", "p95")],
        "push": [("idle-first", "guest-agent", f"first call {p}, push, safety-poll 60s", PU) for p in ("p50", "p95")]}),
    ("7. idle Zaqar requests/s per binding (polling: 5s; push: K bindings / 200 bindings)", {
        "polling": [("idle", "guest-agent", "idle per binding, max-interval 5s (default) Zaqar requests/s", U)],
        "push": [("idle", "guest-agent", "push idle per binding, safety-poll 60s Zaqar requests/s", PU),
                 ("scale", "guest-agent", "push 200 bindings idle, per binding Zaqar requests/s", PU)]}),
]

# guest-agent over AMQP beside murano-agent on the same broker. Two floors: the round trip with
# the guarantees the agent keeps (persistent, publisher confirms, manual acks; GuestAgent.Bench's
# AmqpFloor, .NET) and drivers.py's (kombu, no confirms: murano's own way).
AMQP_COLS = ["guest-agent", "floor, confirmed", "added over confirmed floor", "murano-agent", "floor, kombu (no confirms)"]
AMQP_SUMMARY = [
    ("1. exec true call (murano: true plan), p50 / p95", {
        "guest-agent": [("latency", "guest-agent", f"exec true {p}", R) for p in ("p50", "p95")],
        "floor, confirmed": [("latency", "amqp-floor", f"exec true {p}", R) for p in ("p50", "p95")],
        "added over confirmed floor": [("latency", "guest-agent", f"added over floor {p}", R) for p in ("p50", "p95")],
        "murano-agent": [("latency", "murano-agent", f"true plan {p}", R) for p in ("p50", "p95")],
        "floor, kombu (no confirms)": [("latency", "rabbitmq-floor", f"2-hop round trip {p}", R) for p in ("p50", "p95")]}),
    ("2. calls/s, 1 / 8 / 32 callers (murano: plans in flight)", {
        "guest-agent": [("throughput", "guest-agent", f"calls/s, {n} callers", R) for n in (1, 8, 32)],
        "floor, confirmed": [("throughput", "amqp-floor", f"raw RabbitMQ cycles/s, {n} workers", R) for n in (1, 8, 32)],
        "added over confirmed floor": [("throughput", "guest-agent", f"ratio to raw RabbitMQ, {n} callers", R) for n in (1, 8, 32)],
        "murano-agent": [("throughput", "murano-agent", f"plans/s, {n} in flight", R) for n in (1, 8, 32)],
        "floor, kombu (no confirms)": [("throughput", "rabbitmq-floor", f"round trips/s, {n} in flight", R) for n in (1, 8, 32)]}),
]


def amqp_summary(figures):
    by = {(x["workload"], x["who"], x["what"], x["bed"]): x for x in figures}
    md = ["| workload | " + " | ".join(AMQP_COLS) + " |", "|---" * (len(AMQP_COLS) + 1) + "|"]
    for label, cols in AMQP_SUMMARY:
        md.append(f"| {label} | " + " | ".join(cells(by, cols[c]) if c in cols else "" for c in AMQP_COLS) + " |")
    rec = [x for x in figures if x["workload"] == "recovery" and x["bed"] == R and x["what"].startswith("restart to all")]
    for x in sorted(rec, key=lambda x: x["who"]):
        md.append(f"| 4. recovery after kill -9: {x['what']} | " + " | ".join(
            (fmt(x["median"], x["unit"]) + " " + x["unit"]) if c == x["who"] else "" for c in AMQP_COLS) + " |")
    return md


def amqp_targets(figures):
    """PASS/FAIL of the AMQP transport against its targets."""
    by = {(x["workload"], x["who"], x["what"], x["bed"]): x["median"] for x in figures}
    a50 = by.get(("latency", "guest-agent", "added over floor p50", R))
    ours = by.get(("throughput", "guest-agent", "calls/s, 32 callers", R))
    murano = by.get(("throughput", "murano-agent", "plans/s, 32 in flight", R))
    kombu50, ours50 = by.get(("latency", "rabbitmq-floor", "2-hop round trip p50", R)), by.get(("latency", "guest-agent", "exec true p50", R))

    def verdict(ok):
        return "MISSING" if ok is None else ("PASS" if ok else "FAIL")
    over_kombu = "–" if kombu50 is None or ours50 is None else f"{ours50 - kombu50:.1f} ms"
    ratio = None if ours is None or not murano else ours / murano
    spawn = by.get(("latency", "spawn-floor", "a run of true as the agent starts it (spawned supervisor) p50", ""))
    write = by.get(("latency", "journal-floor", "an event persisted, Akka.Persistence.Sql as the agent sets it p50", ""))
    return [
        f"- {verdict(None if a50 is None else a50 <= 3)} exec true over AMQP, added over the confirmed RabbitMQ round trip: p50 "
        f"{'–' if a50 is None else f'{a50:.1f} ms'} (target <= 3 ms; over kombu's unconfirmed floor: {over_kombu}; of it, starting "
        f"the run's processes under the supervisor alone takes {'–' if spawn is None else f'{spawn:.1f} ms'}, and each of the two "
        f"journal writes before the run and before the reply {'–' if write is None else f'{write:.1f} ms'})",
        f"- {verdict(None if ratio is None else ratio >= 10)} calls/s at 32 callers: {'–' if ours is None else f'{ours:.0f}'}/s, "
        f"{'–' if ratio is None else f'{ratio:.1f}x'} murano-agent's plans/s at 32 in flight ({'–' if murano is None else f'{murano:.1f}'}/s; target >= 10x)",
    ]


def cold_targets(figures):
    """PASS/FAIL of the cold start against its target: the first claim within 0.5 s of the process start."""
    by = {(x["workload"], x["who"], x["what"], x["bed"]): x for x in figures}
    c, r = by.get(("cold-start", "guest-agent", "start to first claim answered", U)), by.get(("cold-start", "guest-agent", COLD_REPLY, U))
    if c is None:
        return []
    reply = "–" if r is None else f"{r['median']:.0f} ms"
    return [f"- {'PASS' if c['median'] <= 500 else 'FAIL'} cold start, process start to the first claim answered (sent before it): "
            f"p50 {c['median']:.0f} ms over {c['runs']} runs (target <= 500 ms); to the reply of a call posted before the start: {reply}"]


def cells(by, specs):
    """The figures of SPECS (workload, who, what, bed) joined by " / ", with their unit once when they share it."""
    vals, units = [], []
    for key in specs:
        x = by.get(key)
        vals.append(fmt(x["median"], x["unit"]) if x else "–")
        units.append(x["unit"] if x else "")
    known = {u for u in units if u}
    if len(known) <= 1:
        return " / ".join(vals) + (f" {known.pop()}" if known else "")
    return " / ".join(f"{v} {u}".strip() for v, u in zip(vals, units))


def push_summary(figures):
    by = {(x["workload"], x["who"], x["what"], x["bed"]): x for x in figures}
    md = ["| workload | " + " | ".join(PUSH_COLS) + " |", "|---" * (len(PUSH_COLS) + 1) + "|"]
    for label, cols in PUSH_SUMMARY:
        if not any(k in by for specs in cols.values() for k in specs):
            continue
        md.append(f"| {label} | " + " | ".join(cells(by, cols[c]) if c in cols else "" for c in PUSH_COLS) + " |")
    return md


def push_targets(figures, meta):
    """PASS/FAIL of push against the targets it has to show; polling's figure beside each."""
    by = {(x["workload"], x["who"], x["what"], x["bed"]): x["median"] for x in figures}

    def get(w, who, what, bed=""):
        return by.get((w, who, what, bed))

    def num(v, unit="", digits=2):
        return "–" if v is None else f"{v:.{digits}f}{unit}"

    def verdict(*checks):
        if any(c is None for c in checks):
            return "MISSING"
        return "PASS" if all(checks) else "FAIL"

    def le(v, limit):
        return None if v is None else v <= limit

    def ge(v, limit):
        return None if v is None else v >= limit

    lines = []
    for bed, pbed in ((U, PU), (W, PW)):
        a50, a95 = get("latency", "guest-agent", "added over floor p50", pbed), get("latency", "guest-agent", "added over floor p95", pbed)
        lines.append(f"- {verdict(le(a50, 5), le(a95, 15))} exec true call on {pbed}, added over the raw Zaqar round trip: "
                     f"p50 {num(a50, ' ms', 1)} (target <= 5 ms; polling {num(get('latency', 'guest-agent', 'added over floor p50', bed), ' ms', 1)}), "
                     f"p95 {num(a95, ' ms', 1)} (target <= 15 ms; polling {num(get('latency', 'guest-agent', 'added over floor p95', bed), ' ms', 1)})"
                     + f"; over the push floor (the same requests on subscribed queues, each claim after its announcement): "
                     f"p50 {num(get('latency', 'guest-agent', 'added over push floor p50', pbed), ' ms', 1)}, "
                     f"p95 {num(get('latency', 'guest-agent', 'added over push floor p95', pbed), ' ms', 1)}")
    idle_s = meta.get("push_idle_s")
    f50 = get("idle-first", "guest-agent", "first call p50, push, safety-poll 60s", PU)
    rate = get("idle", "guest-agent", "push idle (1 binding) Zaqar requests/s", PU)
    per200 = get("scale", "guest-agent", "push 200 bindings idle, per binding Zaqar requests/s", PU)
    spell = f"after {idle_s} s idle" if idle_s else "after idle"
    if idle_s and int(idle_s) < 600:
        spell += " (not 10 minutes: the full run waits 10)"
    lines.append(f"- {verdict(le(f50, 50), le(rate, 0.02))} first command {spell}: p50 {num(f50, ' ms', 1)} (target <= 50 ms; polling at the "
                 f"default {num(get('idle-first', 'guest-agent', 'first call p50, max-interval 5s (default)', U), ' ms', 0)}), "
                 f"at {num(rate, '', 4)} Zaqar requests/s per idle agent (1 binding; target <= 0.02/s; polling "
                 f"{num(get('idle', 'guest-agent', 'idle (1 binding) Zaqar requests/s', U), '/s', 2)}; "
                 f"push per binding of 200: {num(per200, '/s', 4)})")
    r32 = get("throughput", "guest-agent", "ratio to raw Zaqar, 32 callers", PU)
    a32 = get("throughput", "push-floor", "announced cycles/s, 32 workers", PU)
    raw32 = get("throughput", "floor", "raw Zaqar cycles/s, 32 workers", PU)
    lines.append(f"- {verdict(ge(r32, 0.9))} calls/s at 32 callers on {PU}: {num(r32, 'x')} the raw Zaqar cycle rate of its bed "
                 f"(target >= 0.9; polling {num(get('throughput', 'guest-agent', 'ratio to raw Zaqar, 32 callers', U), 'x')} on {U}); "
                 f"{num(get('throughput', 'guest-agent', 'ratio to the push floor, 32 callers', PU), 'x')} the push floor's rate "
                 f"(the same cycles on subscribed queues, each claim after its announcement: {num(a32, '/s', 1)}, "
                 f"{num(None if a32 is None or not raw32 else a32 / raw32, 'x')} the raw rate: what the announcements cost the server)")
    q = get("scale", "guest-agent", "push 200 bindings idle Zaqar requests/s", PU)
    lines.append(f"- {verdict(le(q, 200 * 0.02))} 200 idle bindings in one process: Zaqar {num(q, '/s', 2)} with push "
                 f"(checked against 200 x 0.02/s = 4/s; polling {num(get('scale', 'guest-agent', '200 bindings idle Zaqar requests/s', U), '/s', 1)}); "
                 f"Zaqar CPU {num(get('scale', 'zaqar-uwsgi', 'serving 200 idle push bindings (uwsgi + WebSocket server) CPU %'), ' %')} "
                 f"(uwsgi + WebSocket server; polling, uwsgi: {num(get('scale', 'zaqar-uwsgi', 'serving 200 idle bindings CPU %'), ' %')}); "
                 f"agent CPU {num(get('scale', 'guest-agent', 'push 200 bindings idle CPU %'), ' %')} (polling "
                 f"{num(get('scale', 'guest-agent', '200 bindings idle CPU %'), ' %')})")
    return lines


def summary(figures, meta):
    by = {(x["workload"], x["who"], x["what"], x["bed"]): x for x in figures}

    def file_size(who):
        # The file size of who's transfer figures (a peer that failed at the size asked for
        # reports the largest that worked), and qemu-ga's bytes a call.
        sizes = [x["what"].split(" ")[0] for x in figures if x["workload"] == "file" and x["who"] == who and x["what"][0].isdigit()]
        return sizes[0] if sizes else "?"
    base_mib = file_size("guest-agent")
    chunk = next((x["what"].split("(")[1].split(" ")[0] for x in figures
                  if x["workload"] == "file" and x["who"] == "qemu-ga" and "guest-file-write (" in x["what"]), "?")
    # The put's window (the SDK's default of the run), which names the put's and the raw rate's figures.
    window = next((x["what"].split("window ")[1].rstrip(")") for x in figures
                   if x["workload"] == "file" and x["who"] == "guest-agent" and "put through the queue (SDK, window " in x["what"]), "?")
    md = ["| workload | " + " | ".join(COLS) + " |", "|---" * (len(COLS) + 1) + "|"]
    for label, cols in SUMMARY:
        cells = []
        for c in COLS:
            vals, units, templates, fields = [], [], [], []
            mib = "?"
            for (w, who, what, bed, *template) in cols.get(c, []):
                # A template's fields: v (the median), u (the unit), min, max, runs.
                mib = file_size(who)
                x = by.get((w, who, what.replace("{mib}", mib).replace("{chunk}", chunk).replace("{window}", window), bed))
                vals.append(fmt(x["median"], x["unit"]) if x else "–")
                units.append(x["unit"] if x else "")
                templates.append(template[0] if template else None)
                fields.append({"min": fmt(x["min"], x["unit"]), "max": fmt(x["max"], x["unit"]), "runs": x["runs"]}
                              if x else {"min": "–", "max": "–", "runs": 0})
            known = {u for u in units if u}
            if any(templates):
                cell = "; ".join((t or "{v} {u}").format(v=v, u=u, **f).strip()
                                 for v, u, t, f in zip(vals, units, templates, fields))
            elif len(known) <= 1:
                cell = " / ".join(vals) + (f" {known.pop()}" if known else "")
            else:
                cell = " / ".join(f"{v} {u}".strip() for v, u in zip(vals, units))
            if vals and w == "file" and mib not in ("?", base_mib):
                cell += f" ({mib} MiB)"
            cells.append(cell)
        md.append(f"| {label} | " + " | ".join(cells) + " |")
    return md


def fmt(v, unit):
    if unit in ("%",):
        return f"{v:.2f}"
    if unit in ("x", "s"):
        return f"{v:.2f}"
    if unit == "":
        return f"{v:.0f}"
    if abs(v) < 10:
        return f"{v:.2f}"
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
          f"commit {meta.get('commit', '?')}; guest-agent as released, environment {meta.get('agent_env', '?')}. Medians of the runs; the tables below give min .. max and which "
          f"transport each figure used. An empty cell: that agent has no such figure (see the tables below).", ""]
    md += summary(figures, meta) + [""]
    md += ["#### Polling and push side by side", "",
           "Push: every binding subscribes to its command queue over Zaqar's WebSocket (safety poll 60 s), on beds "
           "with the WebSocket server (and the HTTP server's notifier); each floor is its own bed's. Added over floor: "
           "per run ours - floor (latency, per percentile) or ours / raw Zaqar (calls/s), median of the runs.", ""]
    md += push_summary(figures) + [""]
    md += ["Targets for push:", ""] + push_targets(figures, meta) + [""]
    if any(x["bed"] == R and x["who"] == "guest-agent" for x in figures):
        md += ["#### guest-agent over AMQP beside murano-agent (same RabbitMQ)", "",
               "Floor, confirmed: the agent's and the SDK's guarantees (persistent, publisher confirms, manual acks) "
               "with no agent, two .NET connections; floor, kombu: drivers.py's trivial responder without confirms. "
               "Murano's throughput keeps N plans in flight on one connection.", ""]
        md += amqp_summary(figures) + ["", "Targets for AMQP:", ""] + amqp_targets(figures) + [""]
    if cold_targets(figures):
        md += ["Target for the cold start:", ""] + cold_targets(figures) + [""]
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
    fail = os.path.join(out, "failures.txt")
    if os.path.exists(fail) and os.path.getsize(fail):
        with open(fail) as f:
            md += ["Failed in this run (no figure): " + "; ".join(l.strip() for l in f if l.strip()) + ".", ""]
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1])
