"""Faithfulness check of lifecycle_rules.py against the Rust engine (`lifecycle replay`).

Runs the Python rules over a JSONL file with EAGER event-time timers (a global heap, fired
when the clock passes them, in order of firing time then customer id, as the Rust engine
does) and compares every record with `lifecycle replay --output`, and every rejection
reason with `--rejects`.

    python check_rules.py EVENTS.jsonl REPLAY_OUTPUT.jsonl REPLAY_REJECTS.jsonl
"""

import heapq
import sys
import time

import orjson

import lifecycle_rules as lr


def run(path):
    now = time.time_ns()
    customers = {}
    heap = []  # (fires_at, customer_id)
    clock = None
    out = []
    rejects = []
    stats = {}
    outcomes = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            raw = line.rstrip(b"\n")
            if not raw.strip():
                continue
            try:
                ev = lr.decode(raw, now)
            except lr.Rejected as r:
                rejects.append((lineno, r.reason))
                continue
            at = ev["at"]
            clock = at if clock is None else max(clock, at)
            while heap and heap[0][0] <= clock:
                fires_at, cid = heapq.heappop(heap)
                c = customers.get(cid)
                if c is None:
                    continue
                t = lr.timer(c)
                if t is None or t[2] != fires_at:
                    continue  # stale entry
                lr.fire_due(c, fires_at, out, stats)
                t = lr.timer(c)
                if t is not None:
                    heapq.heappush(heap, (t[2], cid))
            if not ev["known"]:
                outcomes["ignored"] = outcomes.get("ignored", 0) + 1
                continue
            cid = ev["customer_id"]
            c = customers.get(cid)
            before = lr.timer(c) if c is not None else None
            outcome, state = lr.apply(c, ev, None, out, stats)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if state is lr.ERASED:
                del customers[cid]
            elif state is not None:
                customers[cid] = state
                t = lr.timer(state)
                if t is not None and (before is None or before[2] != t[2]):
                    heapq.heappush(heap, (t[2], cid))
    return out, rejects, outcomes, stats


def main():
    events, replay_out, replay_rejects = sys.argv[1:4]
    t0 = time.perf_counter()
    out, rejects, outcomes, stats = run(events)
    secs = time.perf_counter() - t0
    want = [orjson.loads(l) for l in open(replay_out, "rb") if l.strip()]
    got = [orjson.loads(orjson.dumps(r)) for r in out]
    want_rej = [(r["line"], r["reason"]) for r in map(orjson.loads, open(replay_rejects, "rb"))]
    print(f"python rules: {len(got)} records, {len(rejects)} rejects, outcomes {outcomes}, {stats}")
    print(f"rust replay:  {len(want)} records, {len(want_rej)} rejects")
    print(f"python rules alone (no Kafka, no state store): {secs:.2f} s")
    bad = 0
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            bad += 1
            if bad <= 5:
                print(f"record {i} differs:\n  python {g}\n  rust   {w}")
    if len(got) != len(want):
        bad += 1
        print("record counts differ")
    if rejects != want_rej:
        bad += 1
        print(f"rejects differ: {rejects[:5]} vs {want_rej[:5]}")
    print("IDENTICAL" if bad == 0 else f"{bad} differences")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
