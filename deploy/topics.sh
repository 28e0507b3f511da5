#!/usr/bin/env bash
# Creates the lifecycle service's Kafka topics with Apache Kafka's kafka-topics.sh.
# Safe to run again: topics that exist are left as they are (--if-not-exists), and the
# partition counts that must agree are checked every time.
#
#   BOOTSTRAP=broker-1:9092 deploy/topics.sh
#
# Environment:
#   BOOTSTRAP        bootstrap servers (required)
#   PARTITIONS       partitions of every topic (default 12). The input's count bounds the
#                    number of replicas that get work; it cannot be lowered later, and raising
#                    it later moves customers to other partitions (see below).
#   REPLICATION      replication factor (default 3); with 3 or more, min.insync.replicas=2
#                    is set on each topic (the service produces with acks=all).
#   KAFKA_TOPICS     the kafka-topics.sh command (default: kafka-topics.sh on PATH)
#   COMMAND_CONFIG   a client properties file for an authenticated cluster
#                    (passed as --command-config)
#
# The names are the defaults of config/default.toml [kafka.topics]; change both together.
set -euo pipefail

: "${BOOTSTRAP:?set BOOTSTRAP to the bootstrap servers, e.g. BOOTSTRAP=broker-1:9092}"
PARTITIONS=${PARTITIONS:-12}
REPLICATION=${REPLICATION:-3}
KAFKA_TOPICS=${KAFKA_TOPICS:-kafka-topics.sh}

INPUT=crm.events
OUTPUTS=(
  lifecycle.transitions
  lifecycle.actions.care
  lifecycle.actions.retention
  lifecycle.actions.marketing
  lifecycle.actions.holdout
)
# A dead letter keeps a rejected record's value up to the 1 MiB event limit, plus headers:
# the broker's default max.message.bytes (1,048,588) is too small for the largest.
DLQ=crm.events.dlq
DLQ_MAX_MESSAGE_BYTES=1114112
STATE=lifecycle.state
# Which instance owns each input partition (customer queries are redirected to it): compacted,
# one small record per input partition.
MEMBERS=lifecycle.members

for n in "$PARTITIONS" "$REPLICATION"; do
  case "$n" in
    '' | *[!0-9]* | 0) echo "PARTITIONS and REPLICATION must be positive integers (got '$n')" >&2; exit 2 ;;
  esac
done

common=(--bootstrap-server "$BOOTSTRAP")
if [ -n "${COMMAND_CONFIG:-}" ]; then
  common+=(--command-config "$COMMAND_CONFIG")
fi

topic_configs=()
if [ "$REPLICATION" -ge 3 ]; then
  topic_configs+=(--config min.insync.replicas=2)
fi

# create TOPIC PARTITIONS [--config k=v ...]
create() {
  local topic=$1 partitions=$2
  shift 2
  echo "$topic: create unless it exists ($partitions partitions, replication $REPLICATION${*:+, $*})"
  "$KAFKA_TOPICS" "${common[@]}" --create --if-not-exists --topic "$topic" \
    --partitions "$partitions" --replication-factor "$REPLICATION" "$@"
}

# The partition count of an existing topic, from `--describe` ("PartitionCount: N").
partition_count() {
  local out
  out=$("$KAFKA_TOPICS" "${common[@]}" --describe --topic "$1") || return 1
  awk 'match($0, /PartitionCount:[[:space:]]*[0-9]+/) {
         s = substr($0, RSTART, RLENGTH); sub(/^PartitionCount:[[:space:]]*/, "", s)
         print s; exit
       }' <<<"$out"
}

create "$INPUT" "$PARTITIONS" ${topic_configs[@]+"${topic_configs[@]}"}
for t in "${OUTPUTS[@]}"; do
  create "$t" "$PARTITIONS" ${topic_configs[@]+"${topic_configs[@]}"}
done
create "$DLQ" "$PARTITIONS" ${topic_configs[@]+"${topic_configs[@]}"} \
  --config "max.message.bytes=$DLQ_MAX_MESSAGE_BYTES"

# The state changelog must have exactly as many partitions as the input, whatever
# PARTITIONS says: the changelog partition of a customer equals its input partition. The
# instance that is assigned input partition p writes the state of p's customers to
# changelog partition p (by number, not by hashing the key) and restores p by reading
# changelog partition p alone. With fewer changelog partitions the writes fail; more would
# stay empty. (Adding input partitions later moves customers to other input partitions,
# away from their stored state: plan the count up front.) So the count is taken from the
# input topic as it exists (it may predate this script). Compaction keeps the latest record
# per key: each customer's state and each partition's progress record; an erased
# customer's tombstone removes it in the end.
input_partitions=$(partition_count "$INPUT") || input_partitions=
if [ -z "$input_partitions" ]; then
  echo "cannot read the partition count of $INPUT" >&2
  exit 1
fi
create "$STATE" "$input_partitions" --config cleanup.policy=compact \
  ${topic_configs[@]+"${topic_configs[@]}"}
create "$MEMBERS" 1 --config cleanup.policy=compact ${topic_configs[@]+"${topic_configs[@]}"}

state_partitions=$(partition_count "$STATE") || state_partitions=
if [ "$state_partitions" != "$input_partitions" ]; then
  echo "$STATE has $state_partitions partitions but $INPUT has $input_partitions:" \
    "they must be equal (a customer's state must live in the partition of its events)." >&2
  echo "Recreating $STATE with $input_partitions partitions loses the stored state: do it" \
    "before the first deployment, or together with a reset of the consumer group to the" \
    "start of $INPUT while it still holds every event." >&2
  exit 1
fi
if [ "$input_partitions" != "$PARTITIONS" ]; then
  echo "note: $INPUT already existed with $input_partitions partitions (PARTITIONS=$PARTITIONS);" \
    "$STATE follows $INPUT."
fi
echo "topics ready: $INPUT and $STATE have $input_partitions partitions"
