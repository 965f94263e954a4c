#!/usr/bin/env python3
"""Loopback helpers for bench/run: a TCP delay proxy and a blackholed port.

    delayproxy.py proxy --rtt-ms 50 --listen 127.0.0.2 --ready FILE HOST:PORT [HOST:PORT ...]
    delayproxy.py blackhole --listen 127.0.0.2 --ready FILE

Both run until stdin reaches end of file (or a signal), and write FILE (atomically) once
they are ready. Only loopback addresses are accepted, for listening and for targets.

proxy: one listener per target on a free port of --listen; FILE gets one line
"TARGET_PORT PROXY_PORT" per target. It models a path with round-trip time R (one-way delay
D = R/2) between the client and the server:

  * every chunk, in each direction, is forwarded D after it arrived, in order;
  * the TCP handshake: the client's connect() to the proxy completes at once, as loopback
    does, where over the modelled path it would take one RTT. To keep the client's total time
    right, the proxy behaves as if that connect had completed at R: it opens the upstream
    connection only at 1.5 R after accepting (when the server would see the handshake's final
    ACK) and forwards nothing to the server before then. A server that speaks first
    (greeting) is then heard at 2 R, a client that speaks first (TLS ClientHello) gets its
    answer at 2 R: both as over the real path. What differs: the client sees its connect()
    return at 0 instead of R, so per-step timings inside a report shift by one RTT from
    "connect" to the next step; totals do not.

blackhole: a listener with listen(fd, 0) whose accept queue is filled by connections that are
never accepted, so the kernel drops further SYNs: a client's connect() waits until its own
timeout, as with a firewall that drops packets. FILE gets "PORT". The filler connections are
checked: a probe connect with a 1 s timeout must time out before FILE is written.
"""

import argparse
import asyncio
import errno
import ipaddress
import os
import signal
import socket
import sys
import time


def loopback(host):
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        sys.exit(f"delayproxy: {host!r} is not a loopback address; refusing")
    return host


def write_ready(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def wait_for_stdin_eof():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)


# ---------------------------------------------------------------------------------------------
# proxy


class Pipe:
    """One direction: read chunks, deliver each `delay` after its arrival (never before
    `not_before`), in order, then pass on end of file."""

    def __init__(self, reader, delay):
        self.reader = reader
        self.delay = delay
        self.queue = asyncio.Queue()

    async def read_side(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(65536)
                now = loop.time()
                self.queue.put_nowait((now + self.delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            self.queue.put_nowait((loop.time() + self.delay, b""))

    async def write_side(self, writer_future, not_before):
        loop = asyncio.get_running_loop()
        writer = None
        while True:
            due, data = await self.queue.get()
            due = max(due, not_before)
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if writer is None:
                writer = await writer_future
                if writer is None:
                    return
            try:
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                return


async def handle(client_reader, client_writer, target, rtt):
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    one_way = rtt / 2
    upstream_at = accepted + 1.5 * rtt  # see the module docs: the modelled TCP handshake
    upstream = loop.create_future()

    up = Pipe(client_reader, one_way)      # client -> server
    down = Pipe(None, one_way)             # server -> client, reader set once connected
    client_future = loop.create_future()
    client_future.set_result(client_writer)

    async def connect_upstream():
        wait = upstream_at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            r, w = await asyncio.open_connection(*target)
        except OSError:
            upstream.set_result(None)
            down.queue.put_nowait((loop.time(), b""))
            client_writer.close()
            return
        down.reader = r
        upstream.set_result(w)
        await down.read_side()

    tasks = [
        asyncio.ensure_future(connect_upstream()),
        asyncio.ensure_future(up.read_side()),
        asyncio.ensure_future(up.write_side(upstream, upstream_at)),
        asyncio.ensure_future(down.write_side(client_future, 0.0)),
    ]
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for t in tasks:
            t.cancel()
        for w in (client_writer, upstream.result() if upstream.done() else None):
            if w is not None:
                try:
                    w.close()
                except Exception:
                    pass


async def run_proxy(args):
    rtt = args.rtt_ms / 1000.0
    lines = []
    servers = []
    for spec in args.targets:
        host, _, port = spec.rpartition(":")
        target = (loopback(host.strip("[]")), int(port))
        server = await asyncio.start_server(
            lambda r, w, t=target: handle(r, w, t, rtt),
            host=args.listen,
            port=0,
            backlog=256,
        )
        servers.append(server)
        lines.append(f"{target[1]} {server.sockets[0].getsockname()[1]}\n")
    write_ready(args.ready, "".join(lines))
    await wait_for_stdin_eof()
    # Done: leave at once, without cancelling every connection's tasks one by one.
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# blackhole


def run_blackhole(args):
    family = socket.AF_INET6 if ":" in args.listen else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.bind((args.listen, 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    # With backlog 0 the accept queue holds one connection; fill until a connect stalls.
    for _ in range(16):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((args.listen, port))
        if rc not in (0, errno.EINPROGRESS):
            sys.exit(f"delayproxy: filling the blackhole: {os.strerror(rc)}")
        deadline = time.monotonic() + 0.3
        connected = False
        while time.monotonic() < deadline:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                try:
                    s.getpeername()
                    connected = True
                    break
                except OSError:
                    pass
            time.sleep(0.01)
        fillers.append(s)
        if not connected:
            break
    # Check: a fresh connect must not complete within 1 s.
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect((args.listen, port))
        sys.exit("delayproxy: the blackhole port still accepts connections")
    except socket.timeout:
        pass
    finally:
        probe.close()
    write_ready(args.ready, f"{port}\n")
    sys.stdin.buffer.read()
    for s in fillers:
        s.close()
    lsock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("proxy")
    pp.add_argument("--rtt-ms", type=float, default=50.0)
    pp.add_argument("--listen", default="127.0.0.2")
    pp.add_argument("--ready", required=True)
    pp.add_argument("targets", nargs="+")
    bp = sub.add_parser("blackhole")
    bp.add_argument("--listen", default="127.0.0.2")
    bp.add_argument("--ready", required=True)
    args = p.parse_args()
    loopback(args.listen)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.cmd == "proxy":
        asyncio.run(run_proxy(args))
    else:
        run_blackhole(args)
    os._exit(0)


if __name__ == "__main__":
    main()
