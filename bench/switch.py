"""Calls per second through Kamailio asking the route API for every call, against the same
Kamailio relaying every call to one fixed peer (no look-up), in one run on this machine.

    .venv/bin/python bench/switch.py [--seconds 10] [--callers 8] [--workers 2] [--rate 0]

Everything on loopback, on ports the system picks: the API under gunicorn (--workers processes × 4
threads, SQLite, an API key for the switch), Kamailio with integrations/kamailio/kamailio.cfg, one
peer answering 200 at once (127.0.0.2), and --callers processes each placing calls back to back
(INVITE → 200 → ACK) from 127.0.0.1. In look-up mode everything the edge does is on: the calls
come from a trunk (127.0.0.1, with maxCalls and callsPerSecond set above what the run reaches, so
both are counted on every call), each is a dialog in the trunk's profile, and each posts its
ANSWERED event (stored on disk, posted in batches). The static proxy (the same file with
-A STATIC_TARGET: no look-up, no checks) and the look-up proxy take turns in one-second slices
for --seconds each. With --rate the callers offer that many calls/s in all, paced (the callers'
limit: both modes are offered the same calls, and the ratio says how many of them each
completed); without it each caller places its next call as soon as the last one ended (the
ratio then compares how fast each mode turns a call around). Prints calls/s of both modes,
their ratio, call set-up p50/p99 seen by the callers, and the route look-up p50/p99 seen by
Kamailio (measured in the configuration, -A LOG_LOOKUP_TIME). Run by hand, not in CI; needs
Debian's kamailio, kamailio-utils-modules, kamailio-extra-modules and kamailio-sqlite-modules.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.switch.harness import Api, Kamailio, missing_kamailio  # noqa: E402
from tests.switch.sipua import Caller, Peer  # noqa: E402

MODES = ("static relay", "API look-up")


def _caller(args: tuple[float, int, tuple[str, int], float]) -> list[float]:
    seconds, index, proxy, interval = args
    ua = Caller("127.0.0.1", proxy)
    latencies = []
    now = time.perf_counter()
    deadline = now + seconds
    next_at = now + (index % 8) * interval / 8  # callers paced by --rate start spread out
    number = 0
    while time.perf_counter() < deadline:
        if interval:  # paced: the next call at its time (a late one goes at once, no catching up)
            wait = next_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            next_at = max(next_at + interval, time.perf_counter())
            if time.perf_counter() >= deadline:
                break
        number += 1
        started = time.perf_counter()
        result = ua.invite(f"+45{index:02d}{number:06d}", timeout=5, hang_up_after=None)
        if result.status == 200:
            latencies.append(time.perf_counter() - started)
    ua.close()
    return latencies


def drive(seconds: float, callers: int, proxy: tuple[str, int], rate: float = 0) -> dict:
    interval = callers / rate if rate else 0.0
    with multiprocessing.Pool(callers) as pool:
        started = time.perf_counter()
        results = pool.map(_caller, [(seconds, i, proxy, interval) for i in range(callers)])
        elapsed = time.perf_counter() - started
    return {"latencies": [x for r in results for x in r], "elapsed": elapsed}


def summary(parts: list[dict]) -> dict:
    latencies = sorted(x for part in parts for x in part["latencies"])
    return {
        "cps": len(latencies) / sum(part["elapsed"] for part in parts),
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else 0,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0,
    }


def lookup_times(log: Path) -> tuple[float, float, int]:
    found = sorted(int(m) / 1000 for m in re.findall(r"lookup_us=(\d+) status=200", log.read_text()))
    if not found:
        return 0, 0, 0
    return found[len(found) // 2], found[int(len(found) * 0.99)], len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes of the API")
    parser.add_argument("--sip-workers", type=int, default=8, help="Kamailio SIP worker processes")
    parser.add_argument("--rate", type=float, default=0,
                        help="calls/s the callers offer together, paced (0: each places its next call as soon as the last "
                        "ended, so the faster mode gets more calls offered)")
    args = parser.parse_args()
    reason = missing_kamailio()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        api = Api(workdir, workers=args.workers, extra_env={"LOG_LEVEL": "WARNING"})
        peer = Peer("127.0.0.2", mode="quick")
        try:
            api.ok("POST", "/api/sbc/peer", {"_id": "TDC", "default": True, "hosts": [{"host": peer.host, "port": peer.port}]})
            for n in range(50):  # some rules; the calls (+45…) match none and go to the default peer
                api.ok("POST", "/api/sbc/rule", {"type": "PREFIX", "condition": f"+46{n:04d}", "peer": "TDC"})
            customer = api.customer("Bench PBX ApS")
            api.ok("POST", f"/api/customer/{customer}/trunk", {
                "name": "bench", "sources": ["127.0.0.1"], "maxCalls": 1_000_000, "callsPerSecond": 100_000,
            })
            key = api.ok("POST", "/api/apikey", {"name": "bench-switch"})["key"]
            # Both proxies run side by side and take turns in one-second slices, so that other load
            # on the machine weighs on both sides of the ratio alike.
            defines = {
                "static relay": {"STATIC_TARGET": f'"sip:{peer.host}:{peer.port}"'},
                "API look-up": {"API_URL": f'"http://127.0.0.1:{api.port}"', "API_KEY": f'"{key}"', "LOG_LOOKUP_TIME": "1"},
            }
            proxies = {
                mode: Kamailio(workdir, mode.split()[0], {"SIP_WORKERS": str(args.sip_workers), "LOG_LEVEL": "1", **defines[mode]})
                for mode in MODES
            }
            parts: dict[str, list[dict]] = {mode: [] for mode in proxies}
            try:
                for mode, proxy in proxies.items():
                    drive(1.0, args.callers, proxy.sip, args.rate)  # warm up
                for _ in range(max(1, round(args.seconds))):
                    for mode, proxy in proxies.items():
                        parts[mode].append(drive(1.0, args.callers, proxy.sip, args.rate))
            finally:
                for proxy in proxies.values():
                    proxy.stop()
            rows = {mode: summary(found) for mode, found in parts.items()}
            rows["API look-up"]["lookup"] = lookup_times(proxies["API look-up"].log_path)
        finally:
            peer.close()
            api.stop()
    static, lookup = rows["static relay"], rows["API look-up"]
    p50, p99, count = lookup["lookup"]
    print()
    print("| mode | calls/s | set-up p50 ms | set-up p99 ms | ratio |")
    print("|---|---:|---:|---:|---:|")
    for mode, row in rows.items():
        print(f"| {mode} | {row['cps']:.0f} | {row['p50']:.1f} | {row['p99']:.1f} | {row['cps'] / static['cps']:.2f} |")
    print(f"\nroute look-up seen by Kamailio: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({count} look-ups)")
    print(json.dumps({"cores": os.cpu_count(), "callers": args.callers, "rate": args.rate, "api_workers": args.workers,
                      "sip_workers": args.sip_workers, "seconds": args.seconds}))


if __name__ == "__main__":
    main()
