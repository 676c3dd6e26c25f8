"""``carefleet serve``: run one ward live (a site file), or the bundled demo ward.

    carefleet serve SITE.yaml [--host 127.0.0.1] [--port 8000] [--store FILE]
    carefleet serve --demo [--speed N] [--store FILE]

The server binds 127.0.0.1 unless told otherwise. Ctrl-C (or SIGTERM) stops taking
requests, lets the host finish the event in hand and closes the store; a second
``serve`` on the same store is refused (exit 4) while the first runs.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import socket
from collections.abc import Iterator
from typing import Any
from pathlib import Path

from carefleet.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run a ward live: HTTP API on the host, real drivers, real clock",
        description="Run one ward live from its site file (README, 'Site file format'), "
                    "or the bundled demo ward with simulated robots (--demo).")
    parser.add_argument("site", nargs="?", help="site YAML file")
    parser.add_argument("--demo", action="store_true",
                        help="the bundled demo ward with simulated robots, no hardware")
    parser.add_argument("--speed", type=_speed, default=1.0,
                        help="run the clock N times faster (simulated robots only; default 1)")
    parser.add_argument("--store", metavar="FILE", help="the store file (overrides the site's)")
    parser.add_argument("--host", help="address to bind (default: the site's, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: the site's, 8000)")
    parser.set_defaults(func=run)


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or value <= 0 or value > 10_000:
        raise argparse.ArgumentTypeError("must be a number from 0 to 10000")
    return value


def run(args: argparse.Namespace) -> int:
    from carefleet.service.api import create_app
    from carefleet.service.site import DEMO_SITE, load_site
    from carefleet.service.ward import WardService

    if args.demo == bool(args.site):
        raise InputError("serve", "give a site file or --demo (one of them)", field="site")
    site = load_site(DEMO_SITE if args.demo else args.site)
    if args.speed != 1.0 and not all(d.simulated for d in site.drivers.values()):
        raise InputError("--speed", "only a ward of simulated robots can run faster than "
                         "real time")
    store = Path(args.store) if args.store else (Path("carefleet-demo.db") if args.demo
                                                 else site.store)
    host = args.host or site.listen_host
    port = site.listen_port if args.port is None else args.port
    listener = _bind(host, port)
    service = WardService(site, store=store, speed=args.speed)
    try:
        app = create_app(service)
        service.start()
        print(f"CareFleet: {site.ward.name} on http://{host}:{port}/ (API docs: /docs), "
              f"store {store}, {len(site.robots)} robots"
              + (f", clock x{args.speed:g}" if args.speed != 1.0 else "")
              + "; Ctrl-C stops", flush=True)
        if not service.accounts.list_users():
            print(f"no staff account yet: carefleet users add NAME --role admin --store {store}",
                  flush=True)
        import uvicorn
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        _server_class()(config).run(sockets=[listener])
    finally:
        service.stop()
        listener.close()
    print("CareFleet: stopped", flush=True)
    return 0


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, except that Ctrl-C or SIGTERM end ``run`` normally: uvicorn re-raises
        the signal after its own shutdown, which would kill the process before the
        service has closed its store and drivers."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            def stop(signum: int, frame: Any) -> None:
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    return Server


def _bind(host: str, port: int) -> socket.socket:
    """Bind before anything starts, so a taken port is one line, not a traceback."""
    if not 0 < port < 65536:
        raise InputError("--port", f"{port} is not a port number (1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio switches Nagle off only on sockets it knows are TCP,
    # and with Nagle on every kept-alive reply waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError("--port", f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock

