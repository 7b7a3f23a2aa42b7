"""
Writes records with headers and tombstones through librdkafka (the confluent-kafka package), and
reads a topic back with every header as it is stored (repeated keys, null values) — what the
JavaScript client folds into a map.

    .venv/bin/python test/support/headers_roundtrip.py produce BOOTSTRAP TOPIC < records.json
    .venv/bin/python test/support/headers_roundtrip.py read BOOTSTRAP TOPIC COUNT

records.json: [{"key": "u-1" | null, "value": "text" | null, "headers": [["name", "value" | null], ...]}]
`read` prints one JSON line per record: {"partition", "offset", "timestamp", "key", "value",
"value_base64", "headers": [[name, value | null], ...]} (keys and values as UTF-8 text, bytes that
are not UTF-8 replaced; value_base64 the value's exact bytes; null when absent). It reads
committed records only (librdkafka's default isolation), COUNT of them over every partition.
"""
import base64
import json
import sys

from confluent_kafka import Consumer, Producer


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def text(data):
    return None if data is None else data.decode("utf-8", errors="replace")


def main() -> int:
    command, bootstrap, topic = sys.argv[1:4]
    if command == "produce":
        producer = Producer({"bootstrap.servers": bootstrap})
        for record in json.load(sys.stdin):
            headers = [(name, None if value is None else value.encode()) for name, value in record["headers"]]
            key = None if record["key"] is None else record["key"].encode()
            value = None if record["value"] is None else record["value"].encode()
            producer.produce(topic, value=value, key=key, partition=0, headers=headers)
        if producer.flush(30) != 0:
            raise RuntimeError("records not delivered")
        return 0
    count = int(sys.argv[4])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"headers-read-{topic}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = 0
    while seen < count:
        message = consumer.poll(30)
        if message is None:
            raise RuntimeError(f"only {seen} of {count} records arrived within 30 s")
        if message.error():
            raise RuntimeError(str(message.error()))
        headers = [[name, text(value)] for name, value in (message.headers() or [])]
        print(json.dumps({"partition": message.partition(), "offset": message.offset(), "timestamp": message.timestamp()[1], "key": text(message.key()), "value": text(message.value()), "value_base64": b64(message.value()), "headers": headers}), flush=True)
        seen += 1
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
