"""Open-loop burst accuracy: arrival rate achieved and latency overhead.

Starts a zero-delay endpoint on 127.0.0.1 in a process of its own (so that
client and server do not share one interpreter lock), sends a burst at 200 requests per
second and prints one ratio per line: the achieved arrival rate against the
target, and the client-side p95 against the server's own p95 handling time.

    python bench/burst.py [--rate 200] [--count 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integration_health.services.burst import (
    percentile,
    run_burst,
    synthetic_payloads,
)
from tests.verify_endpoint import constant, serve


def _server(conn: Connection) -> None:
    with serve(constant(200, 0.0)) as endpoint:
        conn.send(endpoint.url)
        conn.recv()
        conn.send(list(endpoint.handling_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_server, args=(child,), daemon=True)
    server.start()
    try:
        url = parent.recv()
        result = run_burst(
            url,
            count=args.count,
            rate=args.rate,
            timeout=5.0,
            deadline=args.count / args.rate + 30,
            headers={"X-Synthetic-Check": "1", "Content-Type": "application/json"},
            payloads=synthetic_payloads(100),
        )
        parent.send("stop")
        server_p95 = percentile(parent.recv(), 95) or 0.0
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    p95 = result.p95 or 0.0
    print(
        f"burst_arrival_ratio={result.achieved_rate / args.rate:.3f} (target >= 0.98)"
    )
    print(f"burst_p95_ms={p95 * 1000:.2f}")
    print(f"burst_server_p95_ms={server_p95 * 1000:.3f}")
    print(f"burst_p95_overhead_ratio={p95 / server_p95 if server_p95 else 0:.1f}")
    print(f"burst_statuses={dict(result.statuses)}")


if __name__ == "__main__":
    main()
