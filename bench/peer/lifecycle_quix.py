"""The customer lifecycle rules (SPEC 1-3) as a Quix Streams application: the peer benchmark.

    python lifecycle_quix.py --broker 127.0.0.1:PORT --expect N [--group G] [--state-dir DIR]

One stateful `apply` per input message, keyed by customer_id (the Kafka key), with the
customer's state as one value in Quix's RocksDB store (backed by its compacted changelog
topic, as Quix ships it), at-least-once. Rules: lifecycle_rules.py, which check_rules.py
shows to give record-for-record the same output as `lifecycle replay` when its timers are
fired eagerly.

Input: JSON events from `crm.events` (raw bytes, so a malformed one can be dead-lettered with
its original bytes). Outputs, keyed by customer_id:
  lifecycle.transitions, lifecycle.actions.{care,retention,marketing}  JSON records
  crm.events.dlq  the original bytes, headers reason/detail/source_topic/partition/offset

SIMPLIFIED compared with the SPEC and the Rust service:
- Event-time timers (inactivity -> churning, no_reactivation -> churned) are LAZY. Quix
  Streams has no per-key timer primitive, and a stateful function only sees the state of
  the current message's key, so a timer cannot fire for a customer that sends nothing. Each
  partition keeps an event-time clock (largest occurred_at of the valid events seen, in
  memory, not restored after a restart); when an event of a customer arrives, the customer's
  due timers fire first (same records, same order, same stamps and action ids as the SPEC
  for that customer), then the event is applied. A customer that never sends another event
  never gets its timer transition, and timer records come out later than the SPEC says and
  not in global firing-time order.
- The state's "last applied input offset" is kept per customer as in the SPEC, but Quix's
  own checkpointing (state flush + changelog + offset commit every --commit-interval s,
  5 s by default as shipped) is what at-least-once rests on; no transactions.
- No metrics/health endpoints.
"""

import argparse
import sys
import time
import warnings

try:  # authlib (a quixstreams dependency) forces its deprecation warnings on at import
    import authlib.deprecate  # noqa: F401
except ImportError:
    pass
warnings.filterwarnings("ignore", message=".*httpx.*")

from quixstreams import Application, message_context
from quixstreams.models import TopicConfig

import lifecycle_rules as lr

INPUT = "crm.events"
TRANSITIONS = "lifecycle.transitions"
ACTIONS = {
    "care": "lifecycle.actions.care",
    "retention": "lifecycle.actions.retention",
    "marketing": "lifecycle.actions.marketing",
}
DLQ = "crm.events.dlq"
STATE_KEY = "c"


class DeadLetter(bytes):
    """A rejected input's original bytes, with the headers naming why and where from."""

    headers: list


def build(args):
    consumer_extra = {"fetch.wait.max.ms": args.fetch_wait_max_ms}
    producer_extra = {"linger.ms": args.linger_ms}
    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval,
        consumer_extra_config=consumer_extra,
        producer_extra_config=producer_extra,
        state_dir=args.state_dir,
        processing_guarantee="at-least-once",
        auto_create_topics=args.auto_create_topics,
        loglevel=args.loglevel,
    )
    cfg = TopicConfig(num_partitions=args.partitions, replication_factor=1)
    sfx = args.topic_suffix
    input_topic = app.topic(INPUT + sfx, value_deserializer="bytes", key_deserializer="str", config=cfg)
    out_topics = {
        "transition": app.topic(
            TRANSITIONS + sfx, value_serializer="json", key_serializer="str", config=cfg
        )
    }
    for category, name in ACTIONS.items():
        out_topics[category] = app.topic(
            name + sfx, value_serializer="json", key_serializer="str", config=cfg
        )
    dlq_topic = app.topic(DLQ + sfx, value_serializer="bytes", key_serializer="str", config=cfg)

    clocks = {}  # partition -> event-time clock (ns)
    stats = {"inputs": 0, "rejected": 0, "ignored": 0, "outputs": 0, "first": None, "last": None}
    outcomes = {}
    expect = args.expect
    strict = not args.fast_json
    decode, apply, fire_due, timer = lr.decode, lr.apply, lr.fire_due, lr.timer
    Rejected, ERASED = lr.Rejected, lr.ERASED
    now_ns = time.time_ns

    def process(value, key, timestamp, headers, state):
        n = stats["inputs"] + 1
        stats["inputs"] = n
        if n == 1:
            stats["first"] = time.perf_counter()
        if n == expect:
            stats["last"] = time.perf_counter()
            app.stop()  # finishes this message, then commits the final checkpoint
        ctx = message_context()
        try:
            ev = decode(value, now_ns(), strict)
        except Rejected as r:
            stats["rejected"] += 1
            dead = DeadLetter(value)
            dead.headers = [
                ("reason", r.reason),
                ("detail", r.detail[:512]),
                ("source_topic", ctx.topic),
                ("source_partition", str(ctx.partition)),
                ("source_offset", str(ctx.offset)),
            ]
            return (dead,)
        partition = ctx.partition
        at = ev["at"]
        clock = clocks.get(partition)
        if clock is None or at > clock:
            clock = clocks[partition] = at
        out = []
        c = state.get(STATE_KEY)
        dirty = False
        if c is not None:
            t = timer(c)
            if t is not None and t[2] <= clock:  # lazy event-time timers, see the docstring
                dirty = fire_due(c, clock, out, stats)
        if not ev["known"]:
            stats["ignored"] += 1
            outcome = "ignored"
        else:
            outcome, new = apply(c, ev, ctx.offset, out, stats)
            if new is ERASED:
                state.delete(STATE_KEY)  # a tombstone on the changelog
                c, dirty = None, False
            elif outcome == "applied":
                c, dirty = new, True
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if dirty:
            state.set(STATE_KEY, c)
        stats["outputs"] += len(out)
        return out

    def set_headers(value, key, timestamp, headers):
        if type(value) is DeadLetter:
            return value.headers
        return headers

    def select_topic(value, key, timestamp, headers):
        if type(value) is DeadLetter:
            return dlq_topic
        if value["type"] == "transition":
            return out_topics["transition"]
        return out_topics[value["category"]]

    sdf = app.dataframe(input_topic)
    sdf = sdf.apply(process, stateful=True, expand=True, metadata=True)
    sdf = sdf.set_headers(set_headers)
    sdf.to_topic(select_topic)
    return app, stats, outcomes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--broker", required=True, help="host:port")
    p.add_argument("--group", default="lifecycle-quix")
    p.add_argument(
        "--topic-suffix", default="", help="appended to every topic name (fresh topics per run)"
    )
    p.add_argument("--expect", type=int, default=0, help="stop after N input messages (0: no)")
    p.add_argument(
        "--idle-exit", type=float, default=5.0, help="stop once no message came for S seconds"
    )
    p.add_argument("--state-dir", default="state")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--commit-interval", type=float, default=5.0, help="Quix default: 5 s")
    p.add_argument("--fetch-wait-max-ms", type=int, default=10)
    p.add_argument("--linger-ms", type=int, default=5)
    p.add_argument(
        "--fast-json",
        action="store_true",
        help="parse with orjson (does not reject duplicate keys) instead of the strict parser",
    )
    p.add_argument(
        "--no-auto-create-topics",
        dest="auto_create_topics",
        action="store_false",
        help="every topic, changelog included, must exist already",
    )
    p.add_argument("--loglevel", default="WARNING")
    args = p.parse_args()

    app, stats, outcomes = build(args)
    t0 = time.perf_counter()
    app.run(timeout=args.idle_exit)
    t_end = time.perf_counter()
    n = stats["inputs"]
    if n == 0:
        print("no input message was processed", file=sys.stderr)
        sys.exit(1)
    if stats["last"] is not None:
        # stopped by --expect: first message to the end of the final checkpoint commit
        secs = t_end - stats["first"]
        how = "first message to final commit"
    else:
        # stopped by --idle-exit: first to last message (the idle wait is not counted)
        secs = time.perf_counter() - stats["first"] - args.idle_exit
        how = "first message to idle exit, less the idle wait"
    print(
        f"quix: {n} inputs ({outcomes}, rejected {stats['rejected']}), {stats['outputs']} records, "
        f"suppressed cooldown {stats.get('suppressed_cooldown', 0)} "
        f"no_consent {stats.get('suppressed_no_consent', 0)}; "
        f"startup {stats['first'] - t0:.1f} s; {how}",
        file=sys.stderr,
    )
    print(f"elapsed_s={secs:.3f} events={n} events_per_s={n / secs:.0f}")
    if args.expect and n < args.expect:
        print(f"only {n} of the {args.expect} expected inputs arrived", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
