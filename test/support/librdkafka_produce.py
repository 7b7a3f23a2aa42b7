"""
Writes a topic the way applications we did not write do: through librdkafka (the confluent-kafka
package), one producer per step, each with its own settings (a codec, or a transactional id),
records with and without keys, headers and values.

    .venv/bin/python test/support/librdkafka_produce.py BOOTSTRAP TOPIC < plan.json

plan.json: [{"config": {"compression.type": "zstd", ...},            (librdkafka settings)
             "transaction": "commit" | "abort" | null,              (null: no transaction)
             "records": [{"partition": 0, "key": "u-1" | null, "value": "text" | null,
                          "headers": [["name", "value" | null], ...]}]}]
Prints one JSON line per record the broker acknowledged: {"step", "partition", "offset", "timestamp"}.
A transactional step gets a transactional id of its own.
"""
import json
import sys

from confluent_kafka import Producer


def main() -> int:
    bootstrap, topic = sys.argv[1:3]
    for index, step in enumerate(json.load(sys.stdin)):
        config = {"bootstrap.servers": bootstrap, "linger.ms": 20, **step.get("config", {})}
        transaction = step.get("transaction")
        if transaction is not None:
            config["transactional.id"] = f"{topic}-step-{index}"
        producer = Producer(config)
        if transaction is not None:
            producer.init_transactions(30)
            producer.begin_transaction()
        delivered = []

        def on_delivery(error, message, index=index):
            if error is not None:
                raise RuntimeError(f"record not delivered: {error}")
            delivered.append({"step": index, "partition": message.partition(), "offset": message.offset(), "timestamp": message.timestamp()[1]})

        for record in step["records"]:
            headers = [(name, None if value is None else value.encode()) for name, value in record.get("headers", [])]
            key = None if record.get("key") is None else record["key"].encode()
            value = None if record.get("value") is None else record["value"].encode()
            producer.produce(topic, value=value, key=key, partition=record["partition"], headers=headers or None, on_delivery=on_delivery)
        if producer.flush(30) != 0:
            raise RuntimeError(f"step {index}: records not delivered")
        if transaction == "commit":
            producer.commit_transaction(30)
        elif transaction == "abort":
            producer.abort_transaction(30)
        for line in delivered:
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
