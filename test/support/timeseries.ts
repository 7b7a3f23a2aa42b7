/**
 * Real time-series servers for the hot-path suites, from Debian's packages (scripts/setup.sh
 * installs them): VictoriaMetrics, which serves InfluxDB's 2.x write endpoint, and InfluxDB 1.6.7
 * (1.x API; a point written again with the same series and timestamp replaces the old one).
 * Each runs on free loopback ports with a temporary data directory, and keeps both across
 * stop()/start() so a test can take it down and bring it back.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../lib/kafka/local-broker.ts";
import { LocalServer } from "./local-server.ts";

export class VictoriaMetrics extends LocalServer {
  protected override installHint = "run `bash scripts/setup.sh` (it installs Debian's influxdb and victoria-metrics)";
  protected executable = "victoria-metrics";

  readonly #scrapeConfig: string | undefined;

  /** `scrapeConfig`: a Prometheus scrape configuration file; VictoriaMetrics then scrapes its targets. */
  constructor(options: { scrapeConfig?: string } = {}) {
    super("orderpulse-vm-");
    this.#scrapeConfig = options.scrapeConfig;
  }

  protected command(): Promise<string[]> {
    return Promise.resolve([
      "victoria-metrics",
      `-httpListenAddr=127.0.0.1:${this.port}`,
      `-storageDataPath=${join(this.dataDir, "data")}`,
      "-retentionPeriod=100y",
      "-loggerLevel=ERROR",
      ...(this.#scrapeConfig ? [`-promscrape.config=${this.#scrapeConfig}`, "-promscrape.config.strictParse"] : []),
    ]);
  }

  protected async ready(): Promise<boolean> {
    return (await fetch(`${this.url}/health`)).ok;
  }

  /**
   * Every raw sample of the series matching `selector`, as VictoriaMetrics' export API returns
   * them (one JSON line per series: metric labels, values, timestamps) — samples written for the
   * same series and timestamp more than once come back once per write.
   */
  async export(selector: string): Promise<{ metric: Record<string, string>; values: number[]; timestamps: number[] }[]> {
    await fetch(`${this.url}/internal/force_flush`);
    const response = await fetch(`${this.url}/api/v1/export?${new URLSearchParams({ "match[]": selector })}`);
    if (!response.ok) throw new Error(`export failed: HTTP ${response.status} ${await response.text()}`);
    return (await response.text())
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line));
  }
}

export class InfluxDb1 extends LocalServer {
  protected override installHint = "run `bash scripts/setup.sh` (it installs Debian's influxdb and victoria-metrics)";
  protected executable = "influxd";
  #rpcPort = 0;

  constructor() {
    super("orderpulse-influx1-");
  }

  protected async command(): Promise<string[]> {
    if (this.#rpcPort === 0) this.#rpcPort = await freePort();
    const configPath = join(this.dataDir, "influxdb.conf");
    writeFileSync(
      configPath,
      `reporting-disabled = true
bind-address = "127.0.0.1:${this.#rpcPort}"
[meta]
  dir = "${join(this.dataDir, "meta")}"
[data]
  dir = "${join(this.dataDir, "data")}"
  wal-dir = "${join(this.dataDir, "wal")}"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${this.port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
    );
    return ["influxd", "run", "-config", configPath];
  }

  protected async ready(): Promise<boolean> {
    return (await fetch(`${this.url}/ping`)).status === 204;
  }

  /** Runs InfluxQL and returns the first result's series (throws on an error in the response). */
  async query(q: string, db?: string): Promise<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[]> {
    const params = new URLSearchParams({ q, epoch: "ms" });
    if (db) params.set("db", db);
    const response = await fetch(`${this.url}/query`, { method: "POST", body: params });
    const body = (await response.json()) as { results?: { series?: never[]; error?: string }[]; error?: string };
    const error = body.error ?? body.results?.find((r) => r.error)?.error;
    if (!response.ok || error) throw new Error(`InfluxQL failed (${q}): ${error ?? response.status}`);
    return body.results?.[0]?.series ?? [];
  }
}
