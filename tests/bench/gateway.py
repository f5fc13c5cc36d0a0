"""Tiles/s through the share gateway vs direct store reads (local store and SeaweedFS).

``python -m tests.bench gateway [--tiles 300] [--rounds 3] [--no-s3]``. The gateway runs in
its own process (uvicorn, as ``panodock serve``) with the audit log on; the client fetches
every tile with 6 connections, like a browser. Per store, paired rounds in alternating
order; the table shows medians. For S3, "presigned" is the lower bound of a redirect
design: the client fetching presigned URLs straight from S3 (a redirect adds a gateway
round trip on top of it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr

from config.settings import Settings, load_settings
from workers.service.redis_server import RedisServer, free_port
from workers.store.factory import make_store

TOKEN = "bench-admin-token-0123456789abcdef0123"
CONNECTIONS = 6


def _serve(settings: Settings, url: str, port: int) -> None:
    import logging

    import uvicorn

    from workers.http.api import create_api

    logging.disable(logging.INFO)
    uvicorn.run(create_api(settings, url), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)  # fmt: skip


def _rate(fetch: Callable[[str], int], keys: list[str]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        sizes = list(pool.map(fetch, keys))
    assert all(sizes), "a tile came back empty"
    return len(keys) / (time.perf_counter() - start)


def bench_store(settings: Settings, url: str, tiles: int, rounds: int, label: str) -> list[str]:
    from workers.access.shares import Shares
    from workers.queue.broker import redis_client

    store = make_store(settings)
    store.bootstrap()
    body = os.urandom(30_000)  # a 512 px Q85 tile is ~25-40 kB
    keys = [f"scenes/school/gym/v1/tiles/3/f/{i // 20}/{i % 20}.jpg" for i in range(tiles)]
    for key in keys:
        store.put(key, body, content_type="image/jpeg")
    _, token = Shares(client=redis_client(url)).create(
        "school", expires_in=timedelta(hours=1), label="bench"
    )
    port = free_port()
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(settings, url, port))
    proc.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.1)
    client = httpx.Client(limits=httpx.Limits(max_connections=CONNECTIONS))
    variants: dict[str, Callable[[str], int]] = {
        "direct store read": lambda k: len(store.get(k)),
        "gateway (stream)": lambda k: len(client.get(f"{base}/s/{token}/objects/{k}").content),
    }
    if settings.s3_endpoint:
        urls = {k: store.presigned_get(k) for k in keys}
        variants["presigned from S3"] = lambda k: len(client.get(urls[k]).content)
    results: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for r in range(rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                results[name].append(_rate(variants[name], keys))
    finally:
        client.close()
        proc.terminate()
        proc.join(10)
    direct = statistics.median(results["direct store read"])
    rows = []
    for name, rates in results.items():
        med = statistics.median(rates)
        rows.append(f"| {label:<6} | {name:<18} | {med:>8.0f} | {med / direct:>5.2f} | "
                    f"{1000 / med * CONNECTIONS:>6.2f} |")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench gateway")
    parser.add_argument("--tiles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    redis = RedisServer(work / "redis", port=free_port())
    url = redis.start()
    rows = []
    try:
        base = load_settings(data_dir=work / "local", redis_url=url,
                             serve_token=SecretStr(TOKEN), log_level="WARNING")  # fmt: skip
        rows += bench_store(base, url, args.tiles, args.rounds, "local")
        if not args.no_s3:
            from tests.conftest import s3_settings_for
            from tests.support.seaweed import SeaweedS3

            seaweed = SeaweedS3(work / "seaweed")
            seaweed.start()
            try:
                s3 = s3_settings_for(base, seaweed, bucket="bench")
                rows += bench_store(s3, url, args.tiles, args.rounds, "S3")
            finally:
                seaweed.stop()
    finally:
        redis.stop()
    print(f"{args.tiles} tiles of 30 kB, {CONNECTIONS} connections, median of {args.rounds} "
          "paired rounds")  # fmt: skip
    print("| store  | path               |  tiles/s | ratio | ms/tile/conn |")
    print("|--------|--------------------|---------:|------:|-------------:|")
    for row in rows:
        print(row)
    return 0
