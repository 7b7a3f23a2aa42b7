/**
 * The aggregator's result sinks from its `--sink` list: `console`, `jsonl:PATH`, `influx`,
 * comma-separated. Throws a RangeError naming the item and the accepted forms.
 */
import type { ResultSink } from "../window/result-sink.ts";
import { ConsoleSink } from "./console-sink.ts";
import { InfluxSink, type InfluxTarget } from "./influx-sink.ts";
import { JsonlSink } from "./jsonl-sink.ts";

export function sinksFromSpec(
  spec: string,
  target: InfluxTarget | undefined,
  influx: { window: string; maxBufferedLines: number; log: (line: string) => void },
  /** Whether stdout is a terminal: the console sink then redraws its table in place. */
  terminal = false,
): ResultSink[] {
  return spec.split(",").map((part) => {
    const item = part.trim();
    if (item === "console") return new ConsoleSink({ inPlace: terminal });
    if (item.startsWith("jsonl:") && item.length > "jsonl:".length) return new JsonlSink(item.slice("jsonl:".length));
    if (item === "influx") {
      if (!target) throw new RangeError("--sink influx needs INFLUX_URL (and INFLUX_TOKEN for the 2.x API); see --help");
      return new InfluxSink(target, influx);
    }
    throw new RangeError(`--sink: unknown sink ${JSON.stringify(item)}; use console, jsonl:PATH or influx, comma-separated`);
  });
}
