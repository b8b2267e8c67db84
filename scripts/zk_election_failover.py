#!/usr/bin/env python3
"""Leader failover time of a ZooKeeper ensemble, measured like `paddock bench --workload
election`: CANDIDATES candidate processes campaign with kazoo's Election recipe (one
session each); each round kills the current leader's process with SIGKILL and times, from
the kill, how long it takes until an observer sees another candidate lead. A killed
candidate is replaced at once. One unmeasured warm-up round, then ROUNDS measured ones.

    python3 scripts/zk_election_failover.py --hosts 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 \
        --candidates 8 --rounds 10 --session-timeout 4

Needs kazoo (pip install kazoo). Prints one JSON object.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid


def candidate(args):
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=args.hosts, timeout=args.session_timeout)
    zk.start()
    election = zk.Election(args.path, args.name)

    def lead():
        while True:
            time.sleep(3600)

    election.run(lead)


def leader(zk, path):
    """The identifier of the first contender (the one that holds the election's lock)."""
    from kazoo.recipe.election import Election

    try:
        names = Election(zk, path).contenders()
    except Exception:  # the path may not exist yet
        return None
    return names[0] if names else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--candidates", type=int, default=8)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--session-timeout", type=float, default=4.0)
    p.add_argument("--role", default="bench")
    p.add_argument("--path", default=None)
    p.add_argument("--name", default=None)
    args = p.parse_args()
    if args.role == "candidate":
        return candidate(args)

    from kazoo.client import KazooClient

    path = args.path or "/bench-election-" + uuid.uuid4().hex[:8]
    zk = KazooClient(hosts=args.hosts, timeout=args.session_timeout)
    zk.start()
    procs = {}
    counter = [0]

    def fill():
        while len(procs) < args.candidates:
            name = "candidate-%d" % counter[0]
            counter[0] += 1
            procs[name] = subprocess.Popen(
                [sys.executable, __file__, "--role", "candidate", "--hosts", args.hosts,
                 "--path", path, "--name", name,
                 "--session-timeout", str(args.session_timeout)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_leader(other_than=None, limit=120.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            name = leader(zk, path)
            if name is not None and name != other_than and name in procs:
                return name
            time.sleep(0.005)
        raise SystemExit("no leader within %.0f s" % limit)

    times = []
    try:
        fill()
        for r in range(args.rounds + 1):
            name = wait_leader()
            victim = procs.pop(name)
            victim.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            victim.wait()
            fill()
            wait_leader(other_than=name)
            took = (time.monotonic() - killed) * 1000.0
            if r > 0:  # round 0 is warm-up
                times.append(took)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
        try:
            zk.delete(path, recursive=True)
        except Exception:
            pass
        zk.stop()
    times.sort()
    q = lambda f: times[round((len(times) - 1) * f)] if times else None
    print(json.dumps({
        "system": "zookeeper", "workload": "election", "candidates": args.candidates,
        "session_timeout_ms": int(args.session_timeout * 1000), "failovers": len(times),
        "failover_ms": {"min": q(0.0), "p50": q(0.5), "p99": q(0.99), "max": q(1.0)},
    }))


if __name__ == "__main__":
    main()
