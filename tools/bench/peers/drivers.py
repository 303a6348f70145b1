#!/usr/bin/python3
"""Drivers for the benchmark peers, and the /proc sampler of every bench process.

Run with Debian's /usr/bin/python3 (kombu is a Debian package; pyenv's python3 lacks it).
Figures go as JSON lines to BENCH_JSON, the same records GuestAgent.Bench writes
(workload, who, what, unit, value, bed); tools/bench/report.py folds them.

  drivers.py murano-declare                         declare the agent's queues (as murano-engine does)
  drivers.py murano-latency N RUNS                  true and echo plans, sequential
  drivers.py murano-throughput SECONDS RUNS N,N..   plans/s with N plans in flight
  drivers.py rabbit-floor N RUNS SECONDS N,N..      RabbitMQ round trip through a trivial responder
  drivers.py qga-latency SOCK N RUNS                guest-exec /bin/true + guest-exec-status polling
  drivers.py sample SECONDS WORKLOAD SPEC..         CPU% and RSS of processes, Zaqar requests/s from logs
                                                    (BENCH_WINDOWS: windows the time is cut into, one run each)
"""
import json
import os
import socket
import subprocess
import sys
import time
import uuid

def emit(workload, who, what, unit, value, bed=""):
    print(f"  [{workload}] {who}: {what} = {value:.3f} {unit}{f' ({bed})' if bed else ''}", file=sys.stderr, flush=True)
    path = os.environ.get("BENCH_JSON")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"workload": workload, "who": who, "what": what, "unit": unit,
                                "value": round(value, 4), "bed": bed}) + "\n")


def pct(sorted_values, p):
    import math
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(p * len(sorted_values)) - 1))]


# ---------------------------------------------------------------- murano-agent over RabbitMQ

INPUT = os.environ.get("MURANO_INPUT_QUEUE", "e-bench-h-agent1")
RESULTS = os.environ.get("MURANO_RESULT_QUEUE", "-execution-results-bench")
BED = "RabbitMQ 3.10.8"


def amqp():
    import kombu
    return kombu.Connection(hostname="127.0.0.1", port=int(os.environ["AMQP_PORT"]), userid="guest",
                            password="guest", virtual_host="/")


def declare(conn, name):
    # murano-engine 14.0.0 MqClient.declare(queue, enable_ha=True, ttl=86400000).
    conn.channel().queue_declare(queue=name, durable=True, auto_delete=False,
                                 arguments={"x-ha-policy": "all", "x-expires": 86400000})


def plan(script):
    # The shape of murano-engine's _build_v2_execution_plan output (FormatVersion 2.0.0, one
    # Application script whose entry point is a key of Files). Stamp is left out: the agent
    # drops plans whose Stamp is not above the last one it saw.
    fid = uuid.uuid4().hex
    return {
        "FormatVersion": "2.0.0", "Version": "1.0.0", "Name": "bench", "ID": uuid.uuid4().hex,
        "Action": "Execute", "Parameters": {}, "Body": "return runScript()",
        "Scripts": {"runScript": {"Type": "Application", "Version": "1.0.0", "EntryPoint": fid, "Files": [],
                                  "Options": {"captureStdout": True, "captureStderr": True}}},
        "Files": {fid: {"Name": "run.sh", "BodyType": "Text", "Body": "#!/bin/sh\n" + script + "\n"}},
    }


class MuranoCaller:
    """Publishes plans to the agent's input queue and collects results by SourceID."""

    def __init__(self):
        import kombu
        self.conn = amqp()
        self.conn.connect()
        declare(self.conn, INPUT)
        declare(self.conn, RESULTS)
        self.producer = kombu.Producer(self.conn.channel(), exchange=kombu.Exchange(""), routing_key=INPUT)
        self.done = {}
        self.consumer = kombu.Consumer(self.conn.channel(), queues=[kombu.Queue(RESULTS, no_declare=True)],
                                       callbacks=[self._on_result], accept=None)
        self.consumer.consume()

    def _on_result(self, body, message):
        message.ack()
        r = json.loads(body) if isinstance(body, (str, bytes)) else body
        self.done[r.get("SourceID")] = r

    def send(self, script):
        p = plan(script)
        self.producer.publish(json.dumps(p), message_id=p["ID"], delivery_mode=2)
        return p["ID"]

    def wait(self, ids, timeout=120):
        deadline = time.monotonic() + timeout
        while not all(i in self.done for i in ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"murano: no result for {[i for i in ids if i not in self.done]}")
            try:
                self.conn.drain_events(timeout=1)
            except socket.timeout:
                pass
        for i in ids:
            r = self.done.pop(i)
            if r.get("ErrorCode") != 0:
                raise RuntimeError(f"murano plan failed: {r}")


def murano_latency(n, runs):
    c = MuranoCaller()
    for _ in range(3):
        c.wait([c.send("true")])
    for run in range(runs):
        for name, script in (("true", "true"), ("echo", "echo hello")):
            print(f"murano latency run {run + 1}/{runs}: {n} {name} plans ...", file=sys.stderr, flush=True)
            lat = []
            for _ in range(n):
                t = time.perf_counter()
                c.wait([c.send(script)])
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            for p, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                emit("latency", "murano-agent", f"{name} plan {label}", "ms", pct(lat, p), BED)


def murano_throughput(seconds, runs, levels):
    c = MuranoCaller()
    for run in range(runs):
        for n in levels:
            print(f"murano throughput run {run + 1}/{runs}: {n} plans in flight, {seconds} s ...", file=sys.stderr, flush=True)
            pending = {c.send("true") for _ in range(n)}
            t0, done = time.monotonic(), 0
            while time.monotonic() - t0 < seconds:
                try:
                    c.conn.drain_events(timeout=0.5)
                except socket.timeout:
                    continue
                for i in [i for i in pending if i in c.done]:
                    pending.discard(i)
                    if c.done.pop(i).get("ErrorCode") != 0:
                        raise RuntimeError("murano plan failed")
                    done += 1
                    pending.add(c.send("true"))
            emit("throughput", "murano-agent", f"plans/s, {n} in flight", "/s", done / seconds, BED)
            c.wait(list(pending), timeout=300)  # drain, so the next level starts from an empty queue


def rabbit_responder(inq, outq):
    """A trivial agent: consume, publish the body back, ack. Murano's transport floor."""
    import kombu
    conn = amqp()
    conn.connect()
    producer = kombu.Producer(conn.channel(), exchange=kombu.Exchange(""), routing_key=outq)

    def on(body, message):
        producer.publish(body, delivery_mode=2)
        message.ack()
    with kombu.Consumer(conn.channel(), queues=[kombu.Queue(inq, no_declare=True)], callbacks=[on], accept=None):
        print("ready", flush=True)
        while True:
            try:
                conn.drain_events(timeout=5)
            except socket.timeout:
                if os.getppid() == 1:
                    return


def rabbit_floor(n, runs, seconds, levels):
    import kombu
    inq, outq = "bench-floor-in", "bench-floor-out"
    conn = amqp()
    conn.connect()
    for q in (inq, outq):
        declare(conn, q)
    responder = subprocess.Popen([sys.executable, __file__, "rabbit-responder", inq, outq], stdout=subprocess.PIPE, text=True)
    try:
        responder.stdout.readline()
        producer = kombu.Producer(conn.channel(), exchange=kombu.Exchange(""), routing_key=inq)
        got = []
        consumer = kombu.Consumer(conn.channel(), queues=[kombu.Queue(outq, no_declare=True)],
                                  callbacks=[lambda body, m: (m.ack(), got.append(body))], accept=None)
        consumer.consume()
        body = json.dumps(plan("true"))

        def one_round(k):
            del got[:]
            for _ in range(k):
                producer.publish(body, delivery_mode=2)
            while len(got) < k:
                conn.drain_events(timeout=10)
        for _ in range(20):
            one_round(1)
        for run in range(runs):
            print(f"RabbitMQ floor run {run + 1}/{runs} ...", file=sys.stderr, flush=True)
            lat = []
            for _ in range(n):
                t = time.perf_counter()
                one_round(1)
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            for p, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                emit("latency", "rabbitmq-floor", f"2-hop round trip {label}", "ms", pct(lat, p), BED)
            for k in levels:
                t0, done = time.monotonic(), 0
                del got[:]
                for _ in range(k):
                    producer.publish(body, delivery_mode=2)
                while time.monotonic() - t0 < seconds:
                    conn.drain_events(timeout=10)
                    while got:
                        got.pop()
                        done += 1
                        producer.publish(body, delivery_mode=2)
                emit("throughput", "rabbitmq-floor", f"round trips/s, {k} in flight", "/s", done / seconds, BED)
                deadline = time.monotonic() + 10
                pending = k
                del got[:]
                while len(got) < k and time.monotonic() < deadline:  # drain what is still in flight
                    try:
                        conn.drain_events(timeout=1)
                    except socket.timeout:
                        pass
    finally:
        responder.kill()
        responder.wait()


# ---------------------------------------------------------------- qemu-guest-agent over a unix socket

class Qga:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rwb", buffering=0)
        # guest-sync first, as the protocol asks of a new client, to skip any stale response.
        n = int(time.time())
        r = self.call("guest-sync", id=n)
        assert r == n, r

    def call(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        line = self.f.readline()
        r = json.loads(line)
        if "error" in r:
            raise RuntimeError(f"qemu-ga {cmd}: {r['error']}")
        return r["return"]

    def exec_true(self):
        pid = self.call("guest-exec", path="/bin/true", **{"capture-output": True})["pid"]
        while True:
            st = self.call("guest-exec-status", pid=pid)
            if st["exited"]:
                assert st.get("exitcode") == 0, st
                return


def qga_latency(sock, n, runs):
    q = Qga(sock)
    for _ in range(10):
        q.exec_true()
    for run in range(runs):
        print(f"qemu-ga latency run {run + 1}/{runs}: {n} execs ...", file=sys.stderr, flush=True)
        lat = []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            q.exec_true()
            lat.append((time.perf_counter() - t) * 1000)
        total = time.perf_counter() - t0
        lat.sort()
        for p, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            emit("latency", "qemu-ga", f"exec true {label}", "ms", pct(lat, p), "unix socket")
        # One client at a time: qemu-ga serves its channel serially, so this is its rate.
        emit("throughput", "qemu-ga", "execs/s, 1 caller (serial channel)", "/s", n / total, "unix socket")


# ---------------------------------------------------------------- /proc sampler

def proc(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    return cpu, rss


def pids_of(spec):
    """'123' | '@pidfile' | 'tree:123' (the process and its children: uwsgi workers)."""
    if spec.startswith("@"):
        with open(spec[1:]) as f:
            return [int(f.read().strip())]
    if spec.startswith("tree:"):
        root = int(spec[5:])
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(root)], capture_output=True, text=True).stdout.split()
        return [root] + [int(p) for p in out]
    return [int(spec)]


def sample(seconds, workload, specs, windows=1):
    """SPEC: proc:WHO:WHAT:PIDSPEC[+PIDSPEC..] or log:WHO:WHAT:FILE:SUBSTRING[:DIVISOR][:BED].

    proc gives CPU % (of one core) and RSS MiB (summed over the pids); log gives requests/s from
    a Zaqar request log (lines with SUBSTRING), divided by DIVISOR (per binding). The time is
    cut into WINDOWS equal windows, each one run of every figure (median, min, max in the report)."""
    procs, logs = [], []
    for s in specs:
        kind, rest = s.split(":", 1)
        if kind == "proc":
            who, what, pidspec = rest.split(":", 2)
            procs.append((who, what, [p for ps in pidspec.split("+") for p in pids_of(ps)]))
        else:
            parts = rest.split(":")
            div = float(parts[4]) if len(parts) > 4 and parts[4] else 1.0
            logs.append((parts[0], parts[1], parts[2], parts[3], div, parts[5] if len(parts) > 5 else ""))

    def cpu_of(pids):
        total = {}
        for p in pids:
            try:
                total[p] = proc(p)
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total
    cpu0 = [cpu_of(pids) for _, _, pids in procs]
    off0 = [os.path.getsize(path) for _, _, path, _, _, _ in logs]
    for _ in range(windows):
        t0 = time.monotonic()
        time.sleep(seconds / windows)
        elapsed = time.monotonic() - t0
        cpu1 = [cpu_of(pids) for _, _, pids in procs]
        for (who, what, _), a, b in zip(procs, cpu0, cpu1):
            cpu = sum(b[p][0] - a[p][0] for p in b if p in a)
            emit(workload, who, f"{what} CPU %", "%", 100 * cpu / elapsed)
            emit(workload, who, f"{what} RSS", "MiB", sum(v[1] for v in b.values()))
        off1 = []
        for (who, what, path, sub, div, bed), offset in zip(logs, off0):
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            off1.append(offset + len(data))
            n = sum(1 for line in data.splitlines() if sub.encode() in line and b"HTTP/1." in line)
            emit(workload, who, f"{what} Zaqar requests/s", "/s", n / elapsed / div, bed)
        cpu0, off0 = cpu1, off1


if __name__ == "__main__":
    a = sys.argv[1:]
    cmd = a[0] if a else ""
    if cmd == "murano-declare":
        with amqp() as conn:
            for q in (INPUT, RESULTS):
                declare(conn, q)
    elif cmd == "murano-latency":
        murano_latency(int(a[1]), int(a[2]))
    elif cmd == "murano-throughput":
        murano_throughput(float(a[1]), int(a[2]), [int(x) for x in a[3].split(",")])
    elif cmd == "rabbit-responder":
        rabbit_responder(a[1], a[2])
    elif cmd == "rabbit-floor":
        rabbit_floor(int(a[1]), int(a[2]), float(a[3]), [int(x) for x in a[4].split(",")])
    elif cmd == "qga-latency":
        qga_latency(a[1], int(a[2]), int(a[3]))
    elif cmd == "sample":
        sample(float(a[1]), a[2], a[3:], int(os.environ.get("BENCH_WINDOWS", "1")))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
