"""Prints how many messages each topic holds (sum of its partitions' high watermarks).

    python topic_counts.py --broker 127.0.0.1:PORT TOPIC...
"""

import argparse

from confluent_kafka import Consumer, TopicPartition


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("topics", nargs="+")
    args = p.parse_args()
    c = Consumer({"bootstrap.servers": args.broker, "group.id": "topic-counts"})
    meta = c.list_topics(timeout=10)
    for t in args.topics:
        parts = meta.topics[t].partitions if t in meta.topics else {}
        total = 0
        for pid in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(t, pid), timeout=10)
            total += hi - lo
        print(f"{t}: {total}")
    c.close()


if __name__ == "__main__":
    main()
