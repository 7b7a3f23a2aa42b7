"""
Writes records to a Kafka topic in transactions, through librdkafka's transactional producer
(the confluent-kafka package), as a Java or librdkafka application upstream of orderpulse would:
each transaction ends with a commit or an abort marker in every partition it wrote to.

    .venv/bin/python test/support/transactional_produce.py BOOTSTRAP TOPIC TRANSACTIONAL_ID < plan.json

plan.json: {"transactions": [{"outcome": "commit" | "abort",
                              "records": [{"partition": 0, "key": "u-1", "value": "{...}", "timestamp": 1767225600000}]}]}
Prints one JSON line per record the broker acknowledged, in order:
{"transaction": 0, "partition": 0, "offset": 12, "timestamp": 1767225600000, "outcome": "commit"}
"""
import json
import sys

from confluent_kafka import Producer


def main() -> int:
    bootstrap, topic, transactional_id = sys.argv[1:4]
    plan = json.load(sys.stdin)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 5})
    producer.init_transactions(30)
    delivered = []
    for index, transaction in enumerate(plan["transactions"]):
        outcome = transaction["outcome"]
        producer.begin_transaction()

        def on_delivery(error, message, index=index, outcome=outcome):
            if error is not None:
                raise RuntimeError(f"record not delivered: {error}")
            delivered.append({"transaction": index, "partition": message.partition(), "offset": message.offset(), "timestamp": message.timestamp()[1], "outcome": outcome})

        for record in transaction["records"]:
            producer.produce(topic, value=record["value"].encode(), key=record["key"].encode(), partition=record["partition"], timestamp=record["timestamp"], on_delivery=on_delivery)
        producer.flush(30)
        if outcome == "commit":
            producer.commit_transaction(30)
        elif outcome == "abort":
            producer.abort_transaction(30)
        else:
            raise ValueError(f"unknown outcome {outcome!r}")
    for line in delivered:
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
