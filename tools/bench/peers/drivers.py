#!/usr/bin/python3
"""Drivers for the benchmark peers, and the /proc sampler of every bench process.

Run with Debian's /usr/bin/python3 (kombu is a Debian package; pyenv's python3 lacks it).
Figures go as JSON lines to BENCH_JSON, the same records GuestAgent.Bench writes
(workload, who, what, unit, value, bed); tools/bench/report.py folds them.

  drivers.py murano-declare                         declare the agent's queues (as murano-engine does)
  drivers.py murano-latency N RUNS                  true and echo plans, sequential
  drivers.py murano-throughput SECONDS RUNS N,N..   plans/s with N plans in flight
  drivers.py rabbit-floor N RUNS SECONDS N,N..      RabbitMQ round trip through a trivial responder
  drivers.py murano-recovery MURANO_DIR N           kill -9 with N plans queued, restart, wait for every result
  drivers.py murano-file MURANO_DIR MIB RUNS        a file into the guest inside a plan, and out as a script's stdout
  drivers.py qga-latency SOCK N RUNS                guest-exec /bin/true + guest-exec-status polling
  drivers.py qga-file SOCK DIR MIB RUNS CHUNK_MIB   guest-file-write / guest-file-read, both ways
  drivers.py qga-recovery SOCK START_SCRIPT PIDFILE N   kill -9 with N guest-exec'd processes running, restart
  drivers.py sample SECONDS WORKLOAD SPEC..         CPU% and RSS of processes, Zaqar requests/s from logs
                                                    (BENCH_WINDOWS: windows the time is cut into, one run each)
"""
import base64
import collections
import hashlib
import json
import os
import shutil
import signal
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
    # murano.sh's env: the RabbitMQ bed's administrator (the bed has no guest user).
    return kombu.Connection(hostname="127.0.0.1", port=int(os.environ["AMQP_PORT"]),
                            userid=os.environ.get("AMQP_USER", "guest"),
                            password=os.environ.get("AMQP_PASSWORD", "guest"), virtual_host="/")


def declare(conn, name):
    # murano-engine 14.0.0 MqClient.declare(queue, enable_ha=True, ttl=86400000).
    conn.channel().queue_declare(queue=name, durable=True, auto_delete=False,
                                 arguments={"x-ha-policy": "all", "x-expires": 86400000})


def plan(script, plan_id=None, files=None):
    # The shape of murano-engine's _build_v2_execution_plan output (FormatVersion 2.0.0, one
    # Application script whose entry point is a key of Files). Stamp is left out: the agent
    # drops plans whose Stamp is not above the last one it saw. FILES: more entries of the plan's
    # Files section ({id: {Name, BodyType, Body}}), listed in the script's Files, so the agent
    # puts them next to the script before it runs.
    fid = uuid.uuid4().hex
    files = files or {}
    return {
        "FormatVersion": "2.0.0", "Version": "1.0.0", "Name": "bench", "ID": plan_id or uuid.uuid4().hex,
        "Action": "Execute", "Parameters": {}, "Body": "return runScript()",
        "Scripts": {"runScript": {"Type": "Application", "Version": "1.0.0", "EntryPoint": fid, "Files": list(files),
                                  "Options": {"captureStdout": True, "captureStderr": True}}},
        "Files": {fid: {"Name": "run.sh", "BodyType": "Text", "Body": "#!/bin/sh\n" + script + "\n"}, **files},
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
        self.count = collections.Counter()  # results per SourceID, duplicates included
        self.consumer = kombu.Consumer(self.conn.channel(), queues=[kombu.Queue(RESULTS, no_declare=True)],
                                       callbacks=[self._on_result], accept=None)
        self.consumer.consume()

    def _on_result(self, body, message):
        message.ack()
        r = json.loads(body) if isinstance(body, (str, bytes)) else body
        self.done[r.get("SourceID")] = r
        self.count[r.get("SourceID")] += 1

    def send(self, script, plan_id=None, files=None):
        p = plan(script, plan_id, files)
        self.producer.publish(json.dumps(p), message_id=p["ID"], delivery_mode=2)
        return p["ID"]

    def drain(self, timeout):
        try:
            self.conn.drain_events(timeout=timeout)
        except socket.timeout:
            pass

    def wait(self, ids, timeout=120):
        """The results of IDS (taken out of done), once all arrived; an error if a plan failed."""
        deadline = time.monotonic() + timeout
        while not all(i in self.done for i in ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"murano: no result for {[i for i in ids if i not in self.done]} in {timeout} s")
            self.drain(1)
        results = [self.done.pop(i) for i in ids]
        for r in results:
            if r.get("ErrorCode") != 0:
                # A file transfer's result carries megabytes: the start says enough.
                raise RuntimeError(f"murano plan failed: {json.dumps(r)[:500]}")
        return results


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


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def stat_fields(pid):
    """/proc/PID/stat after the command name (which may hold spaces): state, ppid, ..."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def murano_agent_pid(mdir):
    return read_pid(os.path.join(mdir, "agent.pid"))


def start_murano_agent(mdir):
    subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "murano.sh"), "start-agent", mdir], check=True)


def kill9(pid):
    os.kill(pid, signal.SIGKILL)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A killed child of a shell that is gone is reaped by init; until then it is a zombie.
        if stat_fields(pid)[0] == "Z":
            return
        time.sleep(0.01)


def murano_recovery(mdir, n, timeout=180):
    """N plans (`true`, then one line into an effects file) published at once; 0.5 s later the
    agent is killed with SIGKILL and started again as murano.sh starts it; the time from the
    restart until a result for every plan arrived. The agent takes one plan at a time off
    RabbitMQ (prefetch 1), writes it to its spool directory, acks it, runs it, writes the result
    next to it, sends the result and removes the spooled plan; after a restart it sends spooled
    results and runs spooled plans before it takes the next from RabbitMQ. Counted: results that
    arrived, lost (none for a plan), duplicated (more than one for a plan), and plans whose
    script ran more than once (effects file)."""
    c = MuranoCaller()
    c.wait([c.send("true")])
    effects = os.path.join(mdir, "agent", f"effects-{uuid.uuid4().hex[:8]}.log")
    ids = [uuid.uuid4().hex for _ in range(n)]
    for i in ids:
        c.send(f"true\necho {i} >> {effects}", plan_id=i)
    # murano-agent runs `true` plans at some 10 to 50 a second: the kill comes 0.5 s after the
    # last publish (a time not tied to any result's arrival), with most plans still queued.
    t = time.monotonic()
    while time.monotonic() - t < 0.5:
        c.drain(0.01)
    before = sum(1 for i in ids if c.count[i])
    print(f"murano recovery: {n} plans published, {before} results before the kill; kill -9 and restart ...",
          file=sys.stderr, flush=True)
    kill9(murano_agent_pid(mdir))
    t0 = time.monotonic()
    start_murano_agent(mdir)
    last_progress, seen, elapsed = time.monotonic(), 0, None
    while time.monotonic() - last_progress < 20 and time.monotonic() - t0 < timeout:
        c.drain(0.2)
        now_seen = sum(1 for i in ids if c.count[i])
        if now_seen != seen:
            seen, last_progress = now_seen, time.monotonic()
        if seen == n:
            elapsed = time.monotonic() - t0
            break
    time.sleep(1)  # results that come twice come right after the first
    for _ in range(5):
        c.drain(0.2)
    runs = collections.Counter()
    if os.path.exists(effects):
        with open(effects) as f:
            runs.update(line.strip() for line in f if line.strip())
        os.unlink(effects)
    failed = sum(1 for i in ids if i in c.done and c.done[i].get("ErrorCode") != 0)
    arrived = sum(1 for i in ids if c.count[i])
    if elapsed is not None:
        emit("recovery", "murano-agent", f"restart to all {n} plans' results", "s", elapsed, BED)
    emit("recovery", "murano-agent", f"plans still open at the kill (of {n})", "", n - before, BED)
    emit("recovery", "murano-agent", f"results arrived (of {n})", "", arrived, BED)
    emit("recovery", "murano-agent", f"results lost (of {n})", "", n - arrived, BED)
    emit("recovery", "murano-agent", f"results duplicated (of {n})", "", sum(1 for i in ids if c.count[i] > 1), BED)
    emit("recovery", "murano-agent", f"plans run more than once (of {n})", "", sum(1 for i in ids if runs[i] > 1), BED)
    emit("recovery", "murano-agent", f"plans failed (of {n})", "", failed, BED)
    if elapsed is None:
        spool = os.path.join(mdir, "agent", "storage", "plans")
        empty = [os.path.relpath(os.path.join(d, f), spool) for d, _, fs in os.walk(spool) for f in fs
                 if os.path.getsize(os.path.join(d, f)) == 0]
        print(f"murano recovery: {arrived} of {n} results, none for 20 s; empty files in the agent's spool: {empty or 'none'}"
              + (" (killed while writing it: the restarted agent fails to parse it every 5 s and takes no"
                 " other plan, see its log)" if empty else ""), file=sys.stderr, flush=True)
        murano_repair(mdir, c)
        raise TimeoutError(f"murano recovery: {arrived} of {n} results, the rest lost")


def murano_repair(mdir, c):
    """What an operator would do to a stuck agent, so that the next run starts clean: stop it,
    empty its spool and its input queue, start it again, one plan through."""
    kill9(murano_agent_pid(mdir))
    spool = os.path.join(mdir, "agent", "storage", "plans")
    for name in os.listdir(spool):
        if os.path.isdir(os.path.join(spool, name)):
            shutil.rmtree(os.path.join(spool, name))
    purged = c.conn.channel().queue_purge(INPUT)
    print(f"murano recovery: agent stopped, spool emptied, {purged} plans purged from {INPUT}; restarting it",
          file=sys.stderr, flush=True)
    start_murano_agent(mdir)
    c.wait([c.send("true")])
    c.done.clear()


def ascii_bytes(size):
    """SIZE random bytes below 0x80. murano-agent 10.0.0 decodes a Base64 file's body to a str
    (util.b64decode(...).decode()) and writes it in text mode: only bytes that are valid UTF-8
    come through, and on Python 3 only 7-bit ones come through unchanged (the text-mode write
    re-encodes). Random 7-bit bytes are as incompressible for Base64 as any, and the wire size is
    the same as for binary."""
    return bytes(b & 0x7F for b in os.urandom(size))


def murano_file(mdir, mib, runs):
    """put: a plan whose Files section carries the file (BodyType Base64); its script prints the
    file's sha256sum, which is checked. Time from publish to the result. get: murano has no
    file-get; a plan whose script prints the file as base64 (`base64 -w0`, text on stdout: the
    agent decodes stdout as UTF-8) gets it in its result's stdout; decoded and checked. On
    failure the size is halved (down to 1 MiB) and the largest size that worked is reported."""
    c = MuranoCaller()
    c.wait([c.send("true")])
    size_mib = mib
    while True:
        try:
            _murano_file_runs(c, mdir, size_mib, runs)
            break
        except Exception as e:  # noqa: BLE001 -- the reason goes to the log, the size is halved
            print(f"murano file transfer of {size_mib} MiB failed: {e!s:.300}", file=sys.stderr, flush=True)
            if size_mib <= 1:
                raise
            size_mib //= 2
            c = MuranoCaller()
    if size_mib != mib:
        emit("file", "murano-agent", f"largest size that worked (of {mib} MiB tried)", "MiB", size_mib, BED)
        raise RuntimeError(f"murano file transfer: {mib} MiB failed, {size_mib} MiB worked")


def _murano_file_runs(c, mdir, mib, runs):
    size = mib << 20
    for run in range(runs):
        print(f"murano file run {run + 1}/{runs}: {mib} MiB in and out ...", file=sys.stderr, flush=True)
        data = ascii_bytes(size)
        want = hashlib.sha256(data).hexdigest()
        fid = uuid.uuid4().hex
        files = {fid: {"Name": "data.bin", "BodyType": "Base64", "Body": base64.b64encode(data).decode()}}
        t = time.perf_counter()
        i = c.send("sha256sum data.bin", files=files)
        del files
        r = c.wait([i], timeout=600)[0]
        put_s = time.perf_counter() - t
        got = (r["Body"].get("stdout") or "").split()[0:1]
        if got != [want]:
            raise RuntimeError(f"murano put: sha256 {got} != {want}")
        # get: the same bytes, written into the guest directly (agent and bench share a machine)
        path = os.path.join(mdir, "agent", f"get-{fid[:8]}.bin")
        with open(path, "wb") as f:
            f.write(data)
        try:
            t = time.perf_counter()
            i = c.send(f"base64 -w0 {path}")
            r = c.wait([i], timeout=600)[0]
            out = base64.b64decode(r["Body"]["stdout"])
            get_s = time.perf_counter() - t
        finally:
            os.unlink(path)
        if hashlib.sha256(out).hexdigest() != want:
            raise RuntimeError("murano get: sha256 mismatch")
        emit("file", "murano-agent", f"{mib} MiB: put inside a plan (Base64 file in the plan's JSON)", "MiB/s", mib / put_s, BED)
        emit("file", "murano-agent", f"{mib} MiB: get as a script's stdout (base64 in the result's JSON)", "MiB/s", mib / get_s, BED)


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
        self.f = self.s.makefile("rb")  # buffered: a guest-file-read answer is megabytes on one line
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


def qga_file(sock, d, mib, runs, chunk_mib):
    """put: guest-file-open (w), guest-file-write with CHUNK_MIB of Base64 per call,
    guest-file-close; get: guest-file-open (r), guest-file-read of CHUNK_MIB per call until eof,
    guest-file-close. MiB/s of file bytes, timed from open to close; content checked by sha256
    (the put's file read back from disk, the get's bytes as received)."""
    q = Qga(sock)
    os.makedirs(d, exist_ok=True)
    size, chunk = mib << 20, int(chunk_mib * (1 << 20))
    for run in range(runs):
        print(f"qemu-ga file run {run + 1}/{runs}: {mib} MiB both ways, {chunk_mib} MiB a call ...", file=sys.stderr, flush=True)
        data = os.urandom(size)
        want = hashlib.sha256(data).hexdigest()
        put_path, get_path = os.path.join(d, "put.bin"), os.path.join(d, "get.bin")
        t = time.perf_counter()
        h = q.call("guest-file-open", path=put_path, mode="w")
        for off in range(0, size, chunk):
            part = data[off:off + chunk]
            r = q.call("guest-file-write", handle=h, **{"buf-b64": base64.b64encode(part).decode()})
            if r["count"] != len(part):
                raise RuntimeError(f"qemu-ga guest-file-write wrote {r['count']} of {len(part)}")
        q.call("guest-file-close", handle=h)
        put_s = time.perf_counter() - t
        with open(put_path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != want:
                raise RuntimeError("qemu-ga put: sha256 mismatch")
        with open(get_path, "wb") as f:
            f.write(data)
        t = time.perf_counter()
        h = q.call("guest-file-open", path=get_path, mode="r")
        got = hashlib.sha256()
        while True:
            r = q.call("guest-file-read", handle=h, count=chunk)
            got.update(base64.b64decode(r["buf-b64"]))
            if r["eof"] or r["count"] == 0:
                break
        q.call("guest-file-close", handle=h)
        get_s = time.perf_counter() - t
        os.unlink(put_path)
        os.unlink(get_path)
        if got.hexdigest() != want:
            raise RuntimeError("qemu-ga get: sha256 mismatch")
        emit("file", "qemu-ga", f"{mib} MiB: put, guest-file-write ({chunk_mib:g} MiB Base64 a call)", "MiB/s", mib / put_s, "unix socket")
        emit("file", "qemu-ga", f"{mib} MiB: get, guest-file-read ({chunk_mib:g} MiB a call)", "MiB/s", mib / get_s, "unix socket")


def qga_recovery(sock, start_script, pidfile, n):
    """N guest-exec of `sleep 5` (capture-output), all running; qemu-ga killed with SIGKILL and
    started again by START_SCRIPT (the way the bench starts it); then guest-exec-status for each
    of the old pids. qemu-ga keeps exec records in memory only: the figure is how many it still
    knows, and the time from the restart until it answers guest-sync. The orphaned sleeps are
    killed at the end."""
    q = Qga(sock)
    pids = [q.call("guest-exec", path="/bin/sleep", arg=["5"], **{"capture-output": True})["pid"] for _ in range(n)]
    running = sum(1 for p in pids if not q.call("guest-exec-status", pid=p)["exited"])
    q.s.close()
    kill9(read_pid(pidfile))
    t0 = time.monotonic()
    subprocess.run([start_script], check=True)
    while True:
        try:
            q = Qga(sock)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() - t0 > 30:
                raise
            time.sleep(0.005)
    ready_ms = (time.monotonic() - t0) * 1000
    known, answers = 0, collections.Counter()
    for p in pids:
        try:
            q.call("guest-exec-status", pid=p)
            known += 1
        except RuntimeError as e:
            answers[str(e).split(":", 1)[-1].strip()[:120]] += 1
    for a, k in answers.items():
        print(f"qemu-ga recovery: guest-exec-status of an old pid, {k} times: {a}", file=sys.stderr, flush=True)
    for p in pids:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if f.read().startswith(b"/bin/sleep"):
                    os.kill(p, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass
    emit("recovery", "qemu-ga", f"execs running at the kill (of {n})", "", running, "unix socket")
    emit("recovery", "qemu-ga", f"execs known after restart (of {n})", "", known, "unix socket")
    emit("recovery", "qemu-ga", "restart to first answer (guest-sync)", "ms", ready_ms, "unix socket")


# ---------------------------------------------------------------- /proc sampler

def proc(pid):
    fields = stat_fields(pid)
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    return cpu, rss


def pids_of(spec):
    """'123' | '@pidfile' | 'tree:123' (the process and its children: uwsgi workers)."""
    if spec.startswith("@"):
        return [read_pid(spec[1:])]
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
    elif cmd == "murano-recovery":
        murano_recovery(a[1], int(a[2]))
    elif cmd == "murano-file":
        murano_file(a[1], int(a[2]), int(a[3]))
    elif cmd == "qga-latency":
        qga_latency(a[1], int(a[2]), int(a[3]))
    elif cmd == "qga-file":
        qga_file(a[1], a[2], int(a[3]), int(a[4]), float(a[5]))
    elif cmd == "qga-recovery":
        qga_recovery(a[1], a[2], a[3], int(a[4]))
    elif cmd == "sample":
        sample(float(a[1]), a[2], a[3:], int(os.environ.get("BENCH_WINDOWS", "1")))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
