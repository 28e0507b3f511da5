"""Produces a JSONL file of CRM events to a topic, one message per non-blank line, keyed by
customer_id (a line that is not valid JSON is keyed by the customer_id it seems to name, or
"unknown"). Prints the number of messages produced.

    python produce_input.py --broker 127.0.0.1:PORT --topic crm.events FILE
"""

import argparse
import re
import sys
import time

import orjson
from confluent_kafka import Producer

_CID = re.compile(rb'"customer_id"\s*:\s*"([^"]{1,128})"')


def key_of(line):
    try:
        obj = orjson.loads(line)
        cid = obj.get("customer_id") if type(obj) is dict else None
        if type(cid) is str and cid:
            return cid.encode()
    except orjson.JSONDecodeError:
        pass
    m = _CID.search(line)
    return m.group(1) if m else b"unknown"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--topic", default="crm.events")
    p.add_argument("file")
    args = p.parse_args()
    producer = Producer(
        {
            "bootstrap.servers": args.broker,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1000000,
            "enable.idempotence": True,
        }
    )
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)

    t0 = time.perf_counter()
    n = 0
    with open(args.file, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line.strip():
                continue
            while True:
                try:
                    producer.produce(args.topic, value=line, key=key_of(line), on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            n += 1
            if n % 10000 == 0:
                producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        print(f"produce failed: {left} undelivered, errors {failed[:3]}", file=sys.stderr)
        sys.exit(1)
    secs = time.perf_counter() - t0
    print(f"produced {n} messages in {secs:.1f} s", file=sys.stderr)
    print(n)


if __name__ == "__main__":
    main()
