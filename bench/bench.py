#!/usr/bin/env python3
"""The measurements behind bench/run. Prints Markdown tables; passes and fails nothing.

Called by bench/run once the servers run (bench/servers.rs wrote STATE/servers.env and
STATE/users). Every address contacted is a loopback address read from servers.env (the
servers on 127.0.0.2) or a helper listening on it (bench/delayproxy.py).

Sections (each can be skipped with BENCH_SKIP="matrix delay blackhole batch serve startup"):
  matrix     the six combinations with login: mailcheck vs curl / swaks / openssl s_client
  delay      the same through the delay proxy (BENCH_RTT_MS), with round-trip floors
  blackhole  the matrix with one port swallowing SYNs, vs --connect-timeout
  batch      N probes at fixed concurrency: library (bench-batch) and binary (xargs -P)
  serve      concurrent /probe scrapes of `mailcheck serve`, 1 and 2 exporters (hashmod shards)
  startup    `mailcheck --version` wall time, binary size
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

COMBOS = [
    # id, URL scheme, logical port, servers.env key, STARTTLS?, openssl -starttls name
    ("imap/993/tls", "imaps", 993, "MC_PORT_IMAPS", False, "imap"),
    ("imap/143/starttls", "imap", 143, "MC_PORT_IMAP", True, "imap"),
    ("pop3/995/tls", "pop3s", 995, "MC_PORT_POP3S", False, "pop3"),
    ("pop3/110/starttls", "pop3", 110, "MC_PORT_POP3", True, "pop3"),
    ("smtp/465/tls", "smtps", 465, "MC_PORT_SMTPS", False, "smtp"),
    ("smtp/587/starttls", "smtp", 587, "MC_PORT_SUBMISSION", True, "smtp"),
]
IDS = [c[0] for c in COMBOS]

# Round-trip floor of a login check, in RTTs: what a careful client needs at least, with TLS 1.3
# and without pipelining one exchange into the next (except the first command right behind the
# TLS Finished, which is how STARTTLS clients naturally work). Closing is not awaited: the
# verdict is known when the login reply arrives.
#   TCP handshake 1; a server greeting costs 1 more (the server writes it when the handshake
#   completes on its side); TLS 1.3 handshake 1; over implicit TLS the greeting comes 1 RTT
#   after the client's Finished; every command/reply 1; SASL PLAIN with an initial response
#   (IMAP SASL-IR, POP3 RFC 5034, SMTP RFC 4954) 1.
FLOOR_LOGIN = {
    "imap/993/tls": 4,        # TCP, TLS, greeting, AUTHENTICATE PLAIN <ir>
    "imap/143/starttls": 5,   # TCP+greeting (2, CAPABILITY is in the greeting), STARTTLS, TLS, AUTHENTICATE
    "pop3/995/tls": 4,        # TCP, TLS, greeting, AUTH PLAIN <ir>
    "pop3/110/starttls": 5,   # TCP+greeting (2), STLS, TLS, AUTH PLAIN <ir>
    "smtp/465/tls": 5,        # TCP, TLS, greeting, EHLO, AUTH PLAIN <ir>
    "smtp/587/starttls": 7,   # TCP+greeting (2), EHLO, STARTTLS, TLS, EHLO, AUTH PLAIN <ir>
}
# The TLS facts alone (what `openssl s_client` gets): the handshake is complete for the client
# when the server's Finished arrives.
FLOOR_TLS = {
    "imap/993/tls": 2,        # TCP, TLS
    "imap/143/starttls": 4,   # TCP+greeting (2), STARTTLS, TLS
    "pop3/995/tls": 2,
    "pop3/110/starttls": 4,   # TCP+greeting (2), STLS, TLS
    "smtp/465/tls": 2,
    "smtp/587/starttls": 5,   # TCP+greeting (2), EHLO, STARTTLS, TLS
}


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_list(name, default):
    v = os.environ.get(name)
    return [int(x) for x in (v if v is not None else default).split()]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ms(x):
    return "n/a" if x != x else f"{x * 1000:.0f}"


def ratio(a, b):
    return "n/a" if not b or a != a or b != b else f"{a / b:.2f}"


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def out(line=""):
    print(line, flush=True)


def table(header, rows):
    out("| " + " | ".join(header) + " |")
    out("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        out("| " + " | ".join(str(c) for c in r) + " |")
    out()


class Lab:
    """The servers (servers.env, users) and the commands that probe them."""

    def __init__(self, args):
        self.args = args
        self.env = {}
        for line in open(os.path.join(args.state, "servers.env")):
            k, _, v = line.strip().partition("=")
            if k:
                self.env[k] = v
        self.ip = self.env["MC_IP"]
        assert self.ip.startswith("127."), f"not a loopback address: {self.ip}"
        self.tls_name = self.env["MC_TLS_NAME"]
        self.ca = self.env["MC_CA"]
        d = self.env["MC_DIR"]
        SERVER_ROOTS[:] = [os.path.join(d, "dovecot", "run", "master.pid"),
                           os.path.join(d, "postfix", "spool", "pid", "master.pid")]
        users = [l.split() for l in open(os.path.join(args.state, "users")) if l.strip()]
        self.address, self.password = users[0]
        self.ports = {c[0]: int(self.env[c[3]]) for c in COMBOS}
        # curl reads --user from a config file (mode 0600), so the password is not in argv.
        self.curl_cfg = os.path.join(args.work, "curl.cfg")
        fd = os.open(self.curl_cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'user = "{self.address}:{self.password}"\n')
        base = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ}
        base.update(LANG="C", LC_ALL="C", NO_COLOR="1")
        self.env_plain = base
        self.env_mailcheck = dict(base, MAILCHECK_PASSWORD=self.password)
        self.env_swaks = dict(base, SWAKS_OPT_auth_password=self.password)

    # -- commands; `ports` maps a combination id to the port to connect to on self.ip --------

    def mailcheck(self, ports, only=None, extra=()):
        cmd = [self.args.mailcheck, "probe", self.address, "--server", self.tls_name,
               "--ca-file", self.ca, "--no-prompt", "--format", "json", *extra]
        for cid, _, logical, *_ in COMBOS:
            cmd += ["--connect-to", f"{self.tls_name}:{logical}:{self.ip}:{ports[cid]}"]
        if only:
            cmd += ["--only", only]
        return cmd

    def curl(self, cid, ports, extra=()):
        c = next(c for c in COMBOS if c[0] == cid)
        _, scheme, logical, _, starttls, _ = c
        cmd = ["curl", "-sS", "-K", self.curl_cfg, "--cacert", self.ca,
               "--connect-to", f"{self.tls_name}:{logical}:{self.ip}:{ports[cid]}",
               # One harmless command after the login, so that exit code 0 means "logged in"
               # (without it curl sends HELP to an SMTP server and exits 8 on its 5xx).
               "-X", "NOOP", *extra]
        if scheme.startswith("pop3"):
            cmd.append("-I")  # POP3 custom command with a one-line answer
        if starttls:
            cmd.append("--ssl-reqd")
        cmd.append(f"{scheme}://{self.tls_name}:{logical}/")
        return cmd

    def swaks(self, cid, ports):
        starttls = cid.endswith("starttls")
        return ["swaks", "--server", f"{self.ip}:{ports[cid]}",
                "--tls" if starttls else "--tls-on-connect",
                "--tls-verify", "--tls-ca-path", self.ca, "--tls-sni", self.tls_name,
                "--auth", "PLAIN", "--auth-user", self.address, "--quit-after", "AUTH"]

    def openssl(self, cid, ports):
        c = next(c for c in COMBOS if c[0] == cid)
        cmd = ["openssl", "s_client", "-connect", f"{self.ip}:{ports[cid]}",
               "-servername", self.tls_name, "-verify_hostname", self.tls_name,
               "-CAfile", self.ca, "-verify_return_error", "-brief"]
        if c[4]:
            cmd += ["-starttls", c[5]]
        return cmd


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


LAST_CPU = [0.0]  # user+system CPU seconds of the last timed command(s)
LAST_SRV = [0.0]  # CPU seconds the test servers spent meanwhile
SERVER_ROOTS = []  # pid files of the Dovecot and Postfix masters (set by Lab)


def server_cpu():
    """CPU seconds of the test servers so far: each master with the children it has reaped,
    plus its live children (login, auth, smtpd processes). Other servers on the machine are
    not counted."""
    tck = os.sysconf("SC_CLK_TCK")
    roots = set()
    for f in SERVER_ROOTS:
        try:
            roots.add(int(open(f).read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    total = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        pid, ppid = int(p), int(fields[1])
        if pid in roots or ppid in roots:
            total += sum(int(x) for x in fields[11:15])
    return total / tck


def timed(cmd, env, capture=False):
    """Wall time of one command; (seconds, ok, stdout). Its CPU time goes to LAST_CPU."""
    c, srv = children_cpu(), server_cpu()
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    LAST_CPU[0] = children_cpu() - c
    # The servers finish a session after the client has gone (logout, process exit): a short
    # wait lets that CPU land in this sample, not the next one's.
    time.sleep(0.05)
    LAST_SRV[0] = server_cpu() - srv
    return wall, p.returncode == 0, p.stdout


def timed_parallel(cmds, env):
    cpu0, srv = children_cpu(), server_cpu()
    t = time.perf_counter()
    ps = [subprocess.Popen(c, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) for c in cmds]
    rcs = [p.wait() for p in ps]
    wall = time.perf_counter() - t
    LAST_CPU[0] = children_cpu() - cpu0
    time.sleep(0.05)
    LAST_SRV[0] = server_cpu() - srv
    return wall, all(rc == 0 for rc in rcs)


class Samples:
    def __init__(self):
        self.t = {}
        self.cpu = {}
        self.srv = {}
        self.failed = {}

    def add(self, key, seconds, ok, cpu=None, srv=None):
        if ok:
            self.t.setdefault(key, []).append(seconds)
            if cpu is not None:
                self.cpu.setdefault(key, []).append(cpu)
            if srv is not None:
                self.srv.setdefault(key, []).append(srv)
        else:
            self.failed[key] = self.failed.get(key, 0) + 1

    def cpu_cell(self, key):
        return ms(med(self.cpu.get(key, [])))

    def srv_cell(self, key):
        return ms(med(self.srv.get(key, []))) if self.srv.get(key) else "—"

    def med(self, key):
        return med(self.t.get(key, []))

    def cell(self, key):
        s = ms(self.med(key))
        if self.failed.get(key):
            s += f" ({self.failed[key]} failed)"
        return s


def mailcheck_ok(stdout):
    try:
        doc = json.loads(stdout)
    except ValueError:
        return False, None
    good = doc.get("status") == "ok" and all(
        r.get("auth", {}).get("status") == "succeeded" for r in doc.get("results", []))
    return good, doc


def run_matrix(lab, ports, reps, label):
    """One sample per rep of every case, the cases in a shuffled order each rep."""
    s = Samples()
    s.steps = {cid: [] for cid in IDS}
    cases = [("mc", None)] + [("mc1", cid) for cid in IDS] + [("curl", cid) for cid in IDS] \
        + [("openssl", cid) for cid in IDS] + [("swaks", cid) for cid in IDS[4:]] \
        + [("curlpar", None)]
    rng = random.Random(7)
    for rep in range(reps + 1):  # rep 0 warms up and is not recorded
        order = cases[:]
        rng.shuffle(order)
        this_round = {}
        for kind, cid in order:
            if kind == "mc":
                t, ok, so = timed(lab.mailcheck(ports), lab.env_mailcheck, capture=True)
                good, doc = mailcheck_ok(so)
                ok = ok and good
                if rep and doc:
                    for r in doc.get("results", []):
                        s.steps[r["id"]].append(r)
            elif kind == "mc1":
                t, ok, so = timed(lab.mailcheck(ports, only=cid), lab.env_mailcheck, capture=True)
                ok = ok and mailcheck_ok(so)[0]
            elif kind == "curl":
                t, ok, _ = timed(lab.curl(cid, ports), lab.env_plain)
            elif kind == "openssl":
                t, ok, _ = timed(lab.openssl(cid, ports), lab.env_plain)
            elif kind == "swaks":
                t, ok, _ = timed(lab.swaks(cid, ports), lab.env_swaks)
            else:
                t, ok = timed_parallel([lab.curl(c, ports) for c in IDS], lab.env_plain)
            if rep:
                s.add((kind, cid), t, ok, LAST_CPU[0], LAST_SRV[0])
                if ok:
                    this_round[(kind, cid)] = (t, LAST_CPU[0], LAST_SRV[0])
        if rep:
            # What the one-after-another scripts would take in this round: the sum of this
            # round's single runs (a round in which one of them failed counts as failed).
            for name, keys in (
                ("curl-seq", [("curl", c) for c in IDS]),
                ("curl+swaks-seq", [("curl", c) for c in IDS[:4]] + [("swaks", c) for c in IDS[4:]]),
                ("openssl-seq", [("openssl", c) for c in IDS]),
            ):
                if all(k in this_round for k in keys):
                    s.add(name, sum(this_round[k][0] for k in keys), True,
                          sum(this_round[k][1] for k in keys),
                          sum(this_round[k][2] for k in keys))
                else:
                    s.add(name, 0, False)
    return s


def print_matrix(s, reps, rtt=None):
    floors = rtt is not None
    header = ["combination", "mailcheck alone", "curl", "swaks", "openssl s_client (TLS only)"]
    if floors:
        header += ["login floor", "mailcheck / floor", "curl / floor", "swaks / floor",
                   "openssl / TLS floor"]
    else:
        header += ["curl / mailcheck alone"]
    rows = []
    for cid in IDS:
        r = [f"`{cid}`", s.cell(("mc1", cid)), s.cell(("curl", cid)),
             s.cell(("swaks", cid)) if cid.startswith("smtp") else "—",
             s.cell(("openssl", cid))]
        if floors:
            fl = FLOOR_LOGIN[cid] * rtt
            r += [f"{FLOOR_LOGIN[cid]} RTT = {fl * 1000:.0f}",
                  ratio(s.med(("mc1", cid)), fl), ratio(s.med(("curl", cid)), fl),
                  ratio(s.med(("swaks", cid)), fl) if cid.startswith("smtp") else "—",
                  ratio(s.med(("openssl", cid)), FLOOR_TLS[cid] * rtt)]
        else:
            r.append(ratio(s.med(("curl", cid)), s.med(("mc1", cid))))
        rows.append(r)
    out(f"Per combination, with login (openssl: TLS facts only, no login); median wall ms of {reps} "
        "runs; \"mailcheck alone\" is `mailcheck probe --only <combination>`:")
    out()
    table(header, rows)

    mc = s.med(("mc", None))
    slowest = max(IDS, key=lambda c: s.med(("mc1", c)) if s.t.get(("mc1", c)) else -1)
    rows = [[label, s.cell(key), ratio(s.med(key), mc), s.cpu_cell(key), s.srv_cell(key)]
            for label, key in (
        ("mailcheck, one run, six combinations in parallel", ("mc", None)),
        ("curl, six runs one after another", "curl-seq"),
        ("curl, six runs in parallel (`&` + `wait`)", ("curlpar", None)),
        ("curl ×4 (IMAP, POP3) + swaks ×2 (SMTP), one after another", "curl+swaks-seq"),
        ("openssl s_client ×6, one after another (TLS facts only, no login)", "openssl-seq"),
    )]
    out(f"The whole job (medians of {reps} runs; the one-after-another rows are the sums of "
        "the single runs of the same round; client CPU = user+system time of the client "
        "processes; servers' CPU = what Dovecot and Postfix spent meanwhile, on the same CPUs):")
    out()
    table(["job", "wall ms", "÷ mailcheck", "client CPU ms", "servers' CPU ms"], rows)
    out(f"Parallelism: mailcheck matrix {ms(mc)} ms ÷ slowest combination alone "
        f"(`{slowest}`, {ms(s.med(('mc1', slowest)))} ms) = "
        f"**{ratio(mc, s.med(('mc1', slowest)))}**")
    out()
    cpus = os.cpu_count() or 1
    if rtt is None and s.cpu.get(("mc", None)) and s.srv.get(("mc", None)):
        busy = med(s.cpu[("mc", None)]) + med(s.srv[("mc", None)])
        # On loopback the servers run on the client's CPUs: the matrix cannot end before the
        # CPU work of all six sessions, client and servers, is done on the machine's CPUs.
        out(f"CPU floor of the matrix on this machine: (client {ms(med(s.cpu[('mc', None)]))} + "
            f"servers {ms(med(s.srv[('mc', None)]))} ms of CPU) ÷ {cpus} CPUs = "
            f"{ms(busy / cpus)} ms")
        out()
    return {"matrix_s": mc, "slowest": slowest}


def print_steps(s, rtt):
    """Where mailcheck's time goes in the matrix run: median step durations, and the wait
    before the login step (the lockout gate: one login at a time until the first verdict)."""
    out("mailcheck's steps inside the matrix run (median ms over the runs"
        + (f"; RTT {rtt * 1000:.0f} ms" if rtt else "")
        + "; `gate` = wait between the end of the previous step and the start of `auth`, "
        "where the lockout gate holds a login back until the first one has an answer):")
    out()
    names = ["connect", "tls", "greeting", "capabilities", "starttls", "tls2",
             "capabilities-after-tls", "gate", "auth", "logout", "total"]
    rows = []
    for cid in IDS:
        per = {n: [] for n in names}
        for r in s.steps[cid]:
            seen_tls = False
            prev_end = 0
            for st in r["steps"]:
                n = st["name"]
                if n == "tls":
                    n = "tls2" if seen_tls or cid.endswith("starttls") else "tls"
                    seen_tls = True
                if n == "auth":
                    per["gate"].append(max(0, st["start_ms"] - prev_end))
                if n in per:
                    per[n].append(st["ms"])
                prev_end = st["start_ms"] + st["ms"]
            per["total"].append(r["elapsed_ms"])
        row = [f"`{cid}`"]
        for n in names:
            row.append(f"{med(per[n]):.0f}" if per[n] else "—")
        rows.append(row)
    table(["combination"] + [("tls (after STARTTLS)" if n == "tls2" else n) for n in names], rows)


def section_matrix(lab, args, res):
    reps = env_int("BENCH_N", 10)
    out("**1. The matrix job on loopback (no added latency)**")
    out()
    out(f"load average before: {loadavg()}")
    out()
    s = run_matrix(lab, lab.ports, reps, "loopback")
    res["matrix"] = print_matrix(s, reps)
    res["matrix"]["samples"] = {str(k): v for k, v in s.t.items()}
    print_steps(s, None)
    out(f"load average after: {loadavg()}")
    out()


def start_helper(args, work, mode, extra):
    ready = os.path.join(work, f"{mode}.ready")
    if os.path.exists(ready):
        os.unlink(ready)
    p = subprocess.Popen([sys.executable, args.delayproxy, mode, "--ready", ready, *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not os.path.exists(ready):
        if p.poll() is not None or time.time() > deadline:
            sys.exit(f"bench: the {mode} helper did not start")
        time.sleep(0.05)
    return p, open(ready).read().split()


def stop_helper(p):
    p.stdin.close()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def section_delay(lab, args, res):
    rtt_ms = float(os.environ.get("BENCH_RTT_MS", "50"))
    reps = env_int("BENCH_N_DELAY", 5)
    rtt = rtt_ms / 1000
    out(f"**2. The matrix job through the delay proxy (RTT {rtt_ms:g} ms)**")
    out()
    targets = [f"{lab.ip}:{lab.ports[c]}" for c in IDS]
    p, words = start_helper(args, args.work, "proxy",
                            ["--rtt-ms", str(rtt_ms), "--listen", lab.ip, *targets])
    mapping = dict(zip(words[0::2], words[1::2]))
    ports = {c: int(mapping[str(lab.ports[c])]) for c in IDS}
    try:
        out(f"load average before: {loadavg()}")
        out()
        s = run_matrix(lab, ports, reps, "delay")
    finally:
        stop_helper(p)
    res["delay"] = print_matrix(s, reps, rtt)
    res["delay"]["rtt_ms"] = rtt_ms
    res["delay"]["samples"] = {str(k): v for k, v in s.t.items()}
    print_steps(s, rtt)
    out(f"load average after: {loadavg()}")
    out()


def section_blackhole(lab, args, res):
    reps = env_int("BENCH_N_BLACKHOLE", 3)
    timeouts = [float(x) for x in os.environ.get("BENCH_BLACKHOLE_TIMEOUTS", "1 3").split()]
    victim = "imap/143/starttls"
    out(f"**3. A blackholed port (`{victim}` swallows SYNs; the other five answer)**")
    out()
    p, words = start_helper(args, args.work, "blackhole", ["--listen", lab.ip])
    ports = dict(lab.ports, **{victim: int(words[0])})
    rows = []
    try:
        for to in timeouts:
            mc, curl, codes, status = [], [], set(), set()
            for _ in range(reps):
                t, _, so = timed(lab.mailcheck(ports, extra=["--connect-timeout", f"{to:g}s"]),
                                 lab.env_mailcheck, capture=True)
                mc.append(t)
                try:
                    doc = json.loads(so)
                    status.add(doc["status"])
                    for r in doc["results"]:
                        if r["id"] == victim:
                            codes.add(r.get("reason", {}).get("code", "?"))
                        elif r["verdict"] != "works":
                            codes.add(f"{r['id']}: {r['verdict']}")
                except (ValueError, KeyError):
                    codes.add("unreadable output")
                t0 = time.perf_counter()
                for cid in IDS:
                    subprocess.run(lab.curl(cid, ports, ["--connect-timeout", f"{to:g}"]),
                                   env=lab.env_plain, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                curl.append(time.perf_counter() - t0)
            rows.append([f"{to:g} s", ms(med(mc)), f"{med(mc) / to:.2f}",
                         ", ".join(sorted(codes)), ", ".join(sorted(status)),
                         ms(med(curl))])
    finally:
        stop_helper(p)
    out(f"median of {reps} runs; `--connect-timeout` for mailcheck and curl:")
    out()
    table(["connect timeout", "mailcheck matrix ms", "÷ timeout", f"`{victim}` reason",
           "mailcheck status", "curl ×6 one after another, ms"], rows)
    res["blackhole"] = rows


def section_batch(lab, args, res):
    c = env_int("BENCH_CONCURRENCY", 8)
    lib_sizes = env_list("BENCH_BATCH_SIZES", "100 1000 5000")
    bin_sizes = env_list("BENCH_BATCH_BINARY_SIZES", "100 1000 5000")
    out(f"**4. Batch scale (loopback, concurrency {c}, every probe logs in)**")
    out()
    out(f"load average before: {loadavg()}")
    out()
    rows = []
    for n in lib_sizes:
        p = subprocess.run([args.batch, args.state, str(n), str(c)], env=lab.env_plain,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out(f"bench-batch {n} failed: {p.stderr[-500:]}")
            continue
        bad = "" if not r["not_ok"] else f" ({r['not_ok']} not ok: {r['reasons']})"
        rows.append(["library: `probe::run_with`, one target per call", n,
                     f"{r['wall_s']:.2f}", f"{n / r['wall_s']:.0f}",
                     f"{r['cpu_s'] * 1000 / n:.2f}", f"{r['peak_rss_kib'] / 1024:.1f}",
                     f"{r['ok']}{bad}"])
    ids_file = os.path.join(args.work, "batch-ids")
    for n in bin_sizes:
        with open(ids_file, "w") as f:
            f.write("".join(IDS[i % 6] + "\n" for i in range(n)))
        time_out = os.path.join(args.work, "batch-time")
        json_out = os.path.join(args.work, "batch-out.json")
        t0 = time.perf_counter()
        with open(ids_file) as fin, open(json_out, "w") as fout:
            subprocess.run(["/usr/bin/time", "-o", time_out, "-f", "%e %U %S %M",
                            "xargs", "-P", str(c), "-n", "1", *lab.mailcheck(lab.ports),
                            "--only"], env=lab.env_mailcheck, stdin=fin, stdout=fout,
                           stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        e, u, s, m = open(time_out).read().split()[-4:]
        # The processes' pretty-printed reports interleave in the one output file, so count
        # the auth status that only a verified login has, not whole documents.
        ok = open(json_out).read().count('"status": "succeeded"')
        bad = "" if ok == n else f" ({n - ok} not ok)"
        rows.append(["binary: `mailcheck probe --only X`, one process per probe (xargs -P)", n,
                     f"{wall:.2f}", f"{n / wall:.0f}",
                     f"{(float(u) + float(s)) * 1000 / n:.2f}",
                     f"{int(m) / 1024:.1f} (largest process)", f"{ok}{bad}"])
    # The shipped batch mode: N/6 addresses (cycling through the preset users), six
    # combinations each, one process. --per-host C so that the per-host pacing (default 4)
    # does not halve the concurrency the other rows get. Each address's password comes from
    # the users file through --password-command (never argv); that shell and awk per address
    # are counted in the CPU column.
    users_file = os.path.join(args.state, "users")
    addresses = [l.split()[0] for l in open(users_file) if l.strip()]
    pw_cmd = f"awk -v a=\"$MAILCHECK_ADDRESS\" '$1==a{{print $2;exit}}' {users_file}"
    addr_file = os.path.join(args.work, "batch-addresses")
    for n in bin_sizes:
        accounts = -(-n // 6)
        with open(addr_file, "w") as f:
            f.write("".join(addresses[i % len(addresses)] + "\n" for i in range(accounts)))
        time_out = os.path.join(args.work, "batch-time")
        jsonl_out = os.path.join(args.work, "batch-out.jsonl")
        cmd = lab.mailcheck(lab.ports)
        cmd[1:3] = ["batch", "--from", addr_file]  # "probe ADDRESS" -> "batch --from FILE"
        cmd += ["--password-command", pw_cmd, "--concurrency", str(c), "--per-host", str(c),
                "--format", "jsonl"]
        i = cmd.index("--format")
        del cmd[i:i + 2]  # probe's "--format json"; batch streams jsonl
        cmd.remove("--no-prompt")  # batch never prompts
        t0 = time.perf_counter()
        with open(jsonl_out, "w") as fout:
            subprocess.run(["/usr/bin/time", "-o", time_out, "-f", "%e %U %S %M", *cmd],
                           env=lab.env_plain, stdin=subprocess.DEVNULL, stdout=fout,
                           stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        e, u, s, m = open(time_out).read().split()[-4:]
        probes = logged_in = 0
        for line in open(jsonl_out):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            for r in (doc.get("report") or {}).get("results", []):
                probes += 1
                logged_in += (r.get("auth") or {}).get("status") == "succeeded"
        bad = "" if logged_in == probes == accounts * 6 else \
            f" ({accounts * 6 - logged_in} not logged in)"
        rows.append([f"binary: `mailcheck batch`, {accounts} addresses × 6, one process",
                     accounts * 6, f"{wall:.2f}", f"{accounts * 6 / wall:.0f}",
                     f"{(float(u) + float(s)) * 1000 / (accounts * 6):.2f}",
                     f"{int(m) / 1024:.1f}", f"{logged_in}{bad}"])
    table(["what runs", "probes", "wall s", "probes/s", "mailcheck CPU ms/probe",
           "peak RSS MiB", "logged in"], rows)
    out(f"load average after: {loadavg()}")
    out()
    res["batch"] = rows


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))]


def shard(name, n):
    """Prometheus's `hashmod`: the last 8 bytes of the MD5 of the value, big-endian, modulo n."""
    return int.from_bytes(hashlib.md5(name.encode()).digest()[8:], "big") % n


def proc_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def start_exporter(lab, args, config, env, per_host):
    """`mailcheck serve` on 127.0.0.1 (port from its first line); its stderr drained."""
    p = subprocess.Popen([args.mailcheck, "serve", "--listen", "127.0.0.1:0", "--config", config,
                          "--per-host", str(per_host)],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    first = p.stderr.readline().strip()
    prefix = "mailcheck serve: listening on http://"
    assert first.startswith(prefix), first
    host, _, port = first[len(prefix):].rpartition(":")
    assert host.startswith("127."), host
    threading.Thread(target=p.stderr.read, daemon=True).start()
    return p, host, int(port)


def scrape(host, port, account):
    """One /probe scrape as Prometheus makes it: (seconds, combinations, working ones, ok)."""
    t = time.perf_counter()
    c = http.client.HTTPConnection(host, port, timeout=60)
    c.request("GET", f"/probe?target={account}",
              headers={"X-Prometheus-Scrape-Timeout-Seconds": "20"})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    wall = time.perf_counter() - t
    combos = [l for l in body.splitlines() if l.startswith("mailcheck_probe_success{")]
    working = sum(l.endswith(" 1") for l in combos)
    return wall, len(combos), working, r.status == 200 and "\nmailcheck_success 1\n" in body


def section_serve(lab, args, res):
    n = env_int("BENCH_SERVE_SCRAPES", 120)
    c = env_int("BENCH_SERVE_CONCURRENCY", 8)
    per_host = env_int("BENCH_SERVE_PER_HOST", 4)
    out(f"**5. Exporter: {n} /probe scrapes, {c} at once, 1 and 2 exporters "
        f"(`--per-host {per_host}` each; six combinations with login per scrape)**")
    out()
    users = [l.split() for l in open(os.path.join(args.state, "users")) if l.strip()]
    # One account per preset user; each password reaches the exporters through their
    # environment only (password_env), never argv or the file.
    rules = ", ".join(f'"{lab.tls_name}:{c_[2]}:{lab.ip}:{lab.ports[c_[0]]}"' for c_ in COMBOS)
    text = (f'[defaults]\nserver = "{lab.tls_name}"\nconnect_to = [{rules}]\n'
            f'ca_file = "{lab.ca}"\n')
    env = dict(lab.env_plain)
    names = []
    for i, (address, password) in enumerate(users):
        name = address.split("@")[0]
        names.append(name)
        text += (f'\n[[account]]\nname = "{name}"\naddress = "{address}"\n'
                 f'password_env = "MC_BENCH_PW_{i}"\n')
        env[f"MC_BENCH_PW_{i}"] = password
    config = os.path.join(args.work, "serve.toml")
    with open(config, "w") as f:
        f.write(text)
    rows = []
    for exporters in (1, 2):
        procs = [start_exporter(lab, args, config, env, per_host) for _ in range(exporters)]
        # Each account goes to its shard's exporter, as Prometheus's hashmod relabelling does.
        jobs = [names[i % len(names)] for i in range(n)]
        load0 = loadavg()
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=c) as pool:
            done = list(pool.map(
                lambda a: scrape(procs[shard(a, exporters)][1], procs[shard(a, exporters)][2], a),
                jobs))
        wall = time.perf_counter() - t0
        rss = [f"{proc_kib(p.pid, 'VmHWM') / 1024:.1f}" for p, _, _ in procs]
        for p, _, _ in procs:
            p.terminate()
            p.wait()
        times = [d[0] for d in done]
        combos = sum(d[1] for d in done)
        working = sum(d[2] for d in done)
        ok = sum(d[3] for d in done)
        bad = "" if ok == n else f" ({n - ok} not ok)"
        rows.append([exporters, n, f"{wall:.2f}", f"{n / wall:.1f}", f"{combos / wall:.0f}",
                     ms(percentile(times, 50)), ms(percentile(times, 99)), " / ".join(rss),
                     f"{ok}{bad}", f"{working}/{combos}", f"{load0} → {loadavg()}"])
    table(["exporters", "scrapes", "wall s", "scrapes/s", "probes/s (combinations)",
           "scrape p50 ms", "scrape p99 ms", "peak RSS MiB (each)", "scrapes ok",
           "combinations working", "load average before → after"], rows)
    res["serve"] = rows


def section_startup(lab, args, res):
    reps = env_int("BENCH_N_STARTUP", 50)
    out("**6. Startup and size**")
    out()
    rows = []
    for name, cmd in (("mailcheck --version", [args.mailcheck, "--version"]),
                      ("curl --version", ["curl", "--version"]),
                      ("openssl version", ["openssl", "version"]),
                      ("swaks --version", ["swaks", "--version"])):
        ts = []
        for _ in range(reps):
            t, ok, _ = timed(cmd, lab.env_plain)
            ts.append(t)
        rows.append([f"`{name}`", f"{med(ts) * 1000:.1f}", f"{min(ts) * 1000:.1f}"])
    table([f"command ({reps} runs)", "median ms", "min ms"], rows)
    size = os.path.getsize(args.mailcheck)
    stripped = None
    if shutil.which("strip"):
        tmp = os.path.join(args.work, "mailcheck.stripped")
        if subprocess.run(["strip", "-o", tmp, args.mailcheck]).returncode == 0:
            stripped = os.path.getsize(tmp)
    out(f"release binary `{args.mailcheck}`: {size} bytes ({size / 2**20:.1f} MiB)"
        + (f"; stripped: {stripped} bytes ({stripped / 2**20:.1f} MiB)" if stripped else ""))
    out()
    res["startup"] = {"rows": rows, "size": size, "stripped": stripped}


def section_address(lab, args, res):
    """Address → verdict: discovery (DNS one RTT per answer, web and mail through the delay
    proxy) and the six-combination probe, for a domain whose autoconfig answers and for one
    whose autoconfig hangs while its SRV records answer; beside it, the same probe with the
    server named (no discovery)."""
    rtt_ms = float(os.environ.get("BENCH_RTT_MS", "50"))
    reps = env_int("BENCH_N_ADDRESS", 5)
    out(f"**7. Address → verdict (discovery and probe, RTT {rtt_ms:g} ms)**")
    out()
    out(f"load average before: {loadavg()}")
    out()
    rows, samples = [], {}
    for case, label in (("named", "server named (`--server`, no discovery)"),
                        ("autoconfig", "autoconfig answers"),
                        ("srv-autoconfig-hangs", "autoconfig hangs, SRV answers")):
        launcher = None
        targets = [f"{lab.ip}:{lab.ports[c]}" for c in IDS]
        if case != "named":
            state = os.path.join(args.work, f"address-{case}")
            os.makedirs(state, exist_ok=True)
            launcher = subprocess.Popen([args.discovery, state, case, str(rtt_ms), lab.ca],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            if launcher.stdout.readline().strip() != b"ready":
                sys.exit("bench: bench-discovery did not start")
            denv = dict(l.strip().split("=", 1) for l in open(os.path.join(state, "discovery.env"))
                        if "=" in l)
            targets += [denv["MD_HTTPS"], denv["MD_HTTP"]]
        p, words = start_helper(args, args.work, "proxy",
                                ["--rtt-ms", str(rtt_ms), "--listen", lab.ip, *targets])
        mapping = dict(zip(words[0::2], words[1::2]))
        try:
            if case == "named":
                cmd = lab.mailcheck({c: int(mapping[str(lab.ports[c])]) for c in IDS})
            else:
                web = {t: mapping[t.rsplit(":", 1)[1]] for t in (denv["MD_HTTPS"], denv["MD_HTTP"])}
                cmd = [args.mailcheck, "probe", lab.address, "--no-prompt", "--format", "json",
                       "--dns-server", denv["MD_DNS"], "--ca-file", denv["MD_CA"],
                       "--ispdb-url", "https://ispdb.test/v1.1/",
                       "--connect-to", f":443:{lab.ip}:{web[denv['MD_HTTPS']]}",
                       "--connect-to", f":80:{lab.ip}:{web[denv['MD_HTTP']]}"]
                for cid, _, logical, *_ in COMBOS:
                    cmd += ["--connect-to",
                            f"{lab.tls_name}:{logical}:{lab.ip}:{mapping[str(lab.ports[cid])]}"]
            times, failed = [], 0
            for rep in range(reps + 1):
                wall, _, stdout = timed(cmd, lab.env_mailcheck, capture=True)
                good, _ = mailcheck_ok(stdout)
                if rep == 0:
                    continue
                if good:
                    times.append(wall)
                else:
                    failed += 1
        finally:
            stop_helper(p)
            if launcher:
                launcher.stdin.close()
                launcher.wait(timeout=10)
        samples[case] = times
        cell = ms(med(times)) + (f" ({failed} failed)" if failed else "")
        rows.append([label, cell])
    named = med(samples["named"])
    for r, case in zip(rows, ("named", "autoconfig", "srv-autoconfig-hangs")):
        r.append(f"+{(med(samples[case]) - named) * 1000:.0f}" if samples[case] and named else "—")
    out(f"`mailcheck probe ADDRESS` to the verdict, all six combinations logged in; median wall ms "
        f"of {reps} runs; every DNS answer one RTT late, web and mail through the delay proxy; "
        "discovery's own deadline per source is the default 8 s:")
    out()
    table(["domain", "wall ms", "discovery's cost (ms over named)"], rows)
    out(f"load average after: {loadavg()}")
    out()
    res["address"] = {"rtt_ms": rtt_ms, "samples": samples}


def header(lab, args):
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    out("**mailcheck benchmark** (`bench/run`)")
    out()
    out(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    out(f"- machine: {cpu}, {os.cpu_count()} CPUs, {mem} RAM, Linux {platform.release()}")
    out(f"- load average at start: {loadavg()} (other processes on the machine share the CPUs)")
    out(f"- mailcheck: {first_line([args.mailcheck, '--version'])} ({args.commit})")
    out(f"- {' '.join(first_line(['curl', '--version']).split()[:4])}")
    out(f"- {' '.join(first_line(['openssl', 'version']).split()[:2])}; "
        f"swaks {first_line(['swaks', '--version']).split()[-1]}")
    out(f"- servers: Dovecot {first_line(['dovecot', '--version']).split()[0]}, "
        f"Postfix {first_line(['postconf', '-d', '-h', 'mail_version'])}, on {lab.ip}, "
        "test CA and certificate generated for this run")
    out()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mailcheck", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--delayproxy", required=True)
    ap.add_argument("--discovery", required=True)
    ap.add_argument("--commit", default="?")
    args = ap.parse_args()
    lab = Lab(args)
    skip = set(os.environ.get("BENCH_SKIP", "").split())
    res = {}
    t0 = time.time()
    header(lab, args)
    for name, fn in (("matrix", section_matrix), ("delay", section_delay),
                     ("blackhole", section_blackhole), ("batch", section_batch),
                     ("serve", section_serve), ("startup", section_startup),
                     ("address", section_address)):
        if name not in skip:
            fn(lab, args, res)
    out(f"(measurements took {time.time() - t0:.0f} s)")
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)


if __name__ == "__main__":
    main()
