"""`swarm-sim up` (or `python -m simcluster up`): the simulated cluster in the foreground.

Prints one JSON line on stdout once the API server listens -- `{"kubeconfig": ..., "url": ...,
"stateDir": ...}` -- logs to stderr, and on SIGTERM/SIGINT stops every pod gracefully and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import tempfile
from pathlib import Path

from .apiserver import ApiServer
from .kubelet import Kubelet


async def up(state_dir: Path, crds: list[Path], port: int) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with ApiServer(crd_paths=crds, port=port, state_dir=state_dir) as api:
        kubelet = Kubelet(api.store, state_dir)
        node = asyncio.create_task(kubelet.run())
        print(json.dumps({"kubeconfig": str(api.kubeconfig), "url": api.url, "stateDir": str(state_dir)}),
              flush=True)
        logging.getLogger("simcluster").info("simulated cluster up at %s (state in %s)", api.url, state_dir)
        await stop.wait()
        logging.getLogger("simcluster").info("stopping: terminating pods")
        await kubelet.shutdown()
        node.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await node
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swarm-sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="run the simulated cluster until SIGTERM")
    start.add_argument("--state-dir", type=Path, default=None, help="pod data, PVCs, logs, kubeconfig")
    start.add_argument("--crds", type=Path, action="append", default=[], help="CRD file or directory")
    start.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    start.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per request is noise
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="swarm-sim-"))
    return asyncio.run(up(state_dir, args.crds, args.port))
