/**
 * What Grafana does to a raw InfluxQL panel query before InfluxDB sees it, so a test can run
 * the provisioned dashboard's queries against a real InfluxDB without a Grafana server.
 *
 * Grafana (10+, where the InfluxQL backend path is the default) expands a raw query in two steps:
 *
 * 1. The browser, `InfluxDatasource.applyTemplateVariables()` in
 *    public/app/plugins/datasource/influxdb/datasource.ts, runs `templateSrv.replace()` with the
 *    scoped variables *minus* `__interval` and `__interval_ms` ("We want to interpolate these
 *    variables on backend"). Of the names used here that expands only the global time macros
 *    `$__from` / `${__from}` and `$__to` / `${__to}`, to epoch milliseconds.
 * 2. The server, `(*Query).Build()` in pkg/tsdb/influxdb/models/query.go, does four plain
 *    `strings.ReplaceAll` calls in this order: `$timeFilter` → `time >= <from>ms and time <= <to>ms`
 *    (`renderTimeFilter` / `epochMStoInfluxTime`), `$interval` → `gtime.FormatInterval(interval)`,
 *    `$__interval_ms` → the interval in whole ms, `$__interval` → `FormatInterval` again.
 *    `FormatInterval` (grafana-plugin-sdk-go backend/gtime/gtime.go) keeps only the largest unit,
 *    truncated: 90 000 ms is "1m", like `secondsToHms` in @grafana/data's rangeutil.ts.
 *
 * The interval itself is picked in the browser by `rangeutil.calculateInterval()`;
 * `calculateIntervalMs()` below mirrors it for tests that want the interval a panel would get.
 */

export interface InfluxqlTimeRange {
  /** Range start, epoch ms (integer). */
  fromMs: number;
  /** Range end, epoch ms (integer, not before `fromMs`). */
  toMs: number;
}

export interface ExpandInfluxqlMacrosOptions extends InfluxqlTimeRange {
  /** The panel's `$__interval` in ms: a positive integer (Grafana never sends less than 1 ms). */
  intervalMs: number;
  /** Dashboard variables by name, e.g. `{ window: "1m" }` (see `dashboardVariables`); default none. */
  variables?: Readonly<Record<string, string>>;
}

/** One raw InfluxQL target of a dashboard panel, in panel order then target order. */
export interface PanelQuery {
  panelId: number;
  title: string;
  refId: string;
  /** The raw InfluxQL text, macros unexpanded. */
  query: string;
  /** The panel's "Min interval" (`panel.interval`, e.g. "1m"), if it sets one. */
  minInterval: string | undefined;
}

const MS_PER = { y: 31_536_000_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;

/**
 * `gtime.FormatInterval` in ms: the count of the largest whole unit (y, d, h, m, s, ms), truncated.
 * 60 000 → "1m", 30 000 → "30s", 500 → "500ms", 90 000 → "1m" (not "1m30s"), 0 → "1ms".
 */
export function formatGrafanaInterval(intervalMs: number): string {
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(`interval must be a finite number of ms, at least 0: got ${intervalMs}`);
  }
  for (const unit of ["y", "d", "h", "m", "s", "ms"] as const) {
    if (intervalMs >= MS_PER[unit]) return `${Math.floor(intervalMs / MS_PER[unit])}${unit}`;
  }
  return "1ms";
}

/**
 * Expands the macros Grafana's InfluxDB (InfluxQL) datasource expands in a raw query — see the
 * module comment for the two steps mirrored. Anything else that starts with `$` (dashboard
 * variables, `$__range`, ...) is left as it is, as Grafana leaves an unknown variable.
 *
 * The `$interval` replacement is a substring replacement as in Grafana, so `$intervals` would
 * become `1ms`; `$__interval_ms` is replaced before `$__interval` so it is not cut in two.
 * Throws RangeError for a non-integer or reversed time range or an interval under 1 ms.
 */
export function expandInfluxqlMacros(query: string, options: ExpandInfluxqlMacrosOptions): string {
  const { fromMs, toMs, intervalMs } = options;
  if (!Number.isSafeInteger(fromMs)) throw new RangeError(`fromMs must be an integer epoch ms: got ${fromMs}`);
  if (!Number.isSafeInteger(toMs)) throw new RangeError(`toMs must be an integer epoch ms: got ${toMs}`);
  if (toMs < fromMs) throw new RangeError(`time range ends before it starts: fromMs ${fromMs}, toMs ${toMs}`);
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
    throw new RangeError(`intervalMs must be a positive integer: got ${intervalMs}`);
  }

  // Step 1, templateSrv: `$name` takes the longest run of word characters as the name,
  // so `$__fromX` is an unknown variable and stays; so does a dashboard variable not given.
  const variables = options.variables ?? {};
  const browser = query
    .replace(/\$\{(__from|__to)\}|\$(__from|__to)(?!\w)/g, (_match, braced: string | undefined, bare: string | undefined) =>
      String((braced ?? bare) === "__from" ? fromMs : toMs),
    )
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (match, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      return Object.hasOwn(variables, name) && !name.startsWith("__") ? variables[name]! : match;
    });

  // Step 2, models/query.go Build(): order matters.
  const intervalText = formatGrafanaInterval(intervalMs);
  return browser
    .replaceAll("$timeFilter", `time >= ${fromMs}ms and time <= ${toMs}ms`)
    .replaceAll("$interval", intervalText)
    .replaceAll("$__interval_ms", String(intervalMs))
    .replaceAll("$__interval", intervalText);
}

export interface CalculateIntervalOptions {
  /** The panel's data-point budget: its `maxDataPoints`, else its width in pixels. */
  maxDataPoints: number;
  /** The panel's "Min interval" (`panel.interval`, e.g. "1m"); default none (1 ms). */
  minInterval?: string;
}

/**
 * The `intervalMs` Grafana gives a panel: `rangeutil.calculateInterval()` — the range divided by
 * the data-point budget, rounded by `roundInterval()` to a "nice" step, and raised to the
 * panel's min interval. Throws RangeError for a budget under 1 or an unreadable min interval.
 */
export function calculateIntervalMs(range: InfluxqlTimeRange, options: CalculateIntervalOptions): number {
  const { maxDataPoints, minInterval } = options;
  if (!(maxDataPoints >= 1)) throw new RangeError(`maxDataPoints must be at least 1: got ${maxDataPoints}`);
  const lowLimitMs = minInterval === undefined ? 1 : grafanaIntervalToMs(minInterval);
  return Math.max(roundInterval((range.toMs - range.fromMs) / maxDataPoints), lowLimitMs);
}

const INTERVAL_MS_BY_UNIT: Record<string, number> = {
  y: 31_536_000_000,
  M: 2_592_000_000,
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
};

/** `rangeutil.intervalToMs()`: "10s" → 10 000; a bare number counts seconds. */
export function grafanaIntervalToMs(interval: string): number {
  if (Number(interval)) return Number.parseInt(interval, 10) * 1_000;
  const match = /^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])/.exec(interval);
  const unitMs = match?.[2] === undefined ? undefined : INTERVAL_MS_BY_UNIT[match[2]];
  if (match?.[1] === undefined || unitMs === undefined) {
    throw new RangeError(`interval must be a number with a unit among y, M, w, d, h, m, s, ms: got "${interval}"`);
  }
  return Number.parseInt(match[1], 10) * unitMs;
}

// `rangeutil.roundInterval()`: [upper bound (exclusive), result] in ms; past the last, 1 y.
const ROUND_STEPS: readonly (readonly [number, number])[] = [
  [10, 1],
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1_500, 1_000],
  [3_500, 2_000],
  [7_500, 5_000],
  [12_500, 10_000],
  [17_500, 15_000],
  [25_000, 20_000],
  [45_000, 30_000],
  [90_000, 60_000],
  [210_000, 120_000],
  [450_000, 300_000],
  [750_000, 600_000],
  [1_050_000, 900_000],
  [1_500_000, 1_200_000],
  [2_700_000, 1_800_000],
  [5_400_000, 3_600_000],
  [9_000_000, 7_200_000],
  [16_200_000, 10_800_000],
  [32_400_000, 21_600_000],
  [86_400_000, 43_200_000],
  [604_800_000, 86_400_000],
  [1_814_400_000, 604_800_000],
  [3_628_800_000, 2_592_000_000],
];

function roundInterval(intervalMs: number): number {
  for (const [below, result] of ROUND_STEPS) if (intervalMs < below) return result;
  return 31_536_000_000;
}

/**
 * Every raw InfluxQL target of a dashboard JSON (as provisioned: `panels`, and the `panels` of
 * collapsed rows), skipping targets with `hide: true` as Grafana does.
 * Throws TypeError when the value is not a dashboard or a visible target has no raw query text.
 */
/**
 * The dashboard's variables (`templating.list`) at their current values, as Grafana sends them
 * on the dashboard's first load: name → the current option's value.
 */
export function dashboardVariables(dashboardJson: unknown): Record<string, string> {
  const list = isRecord(dashboardJson) && isRecord(dashboardJson.templating) && Array.isArray(dashboardJson.templating.list) ? dashboardJson.templating.list : [];
  const out: Record<string, string> = {};
  for (const variable of list) {
    if (!isRecord(variable) || typeof variable.name !== "string") continue;
    const current = isRecord(variable.current) ? variable.current.value : undefined;
    if (typeof current !== "string") throw new TypeError(`dashboard variable ${variable.name} has no current value`);
    out[variable.name] = current;
  }
  return out;
}

export function listPanelQueries(dashboardJson: unknown): PanelQuery[] {
  if (!isRecord(dashboardJson) || !Array.isArray(dashboardJson.panels)) {
    throw new TypeError("dashboard JSON must be an object with a panels array");
  }
  const result: PanelQuery[] = [];
  const visit = (panels: unknown[]): void => {
    for (const panel of panels) {
      if (!isRecord(panel)) throw new TypeError(`panel must be an object: got ${JSON.stringify(panel)}`);
      if (Array.isArray(panel.panels)) visit(panel.panels);
      if (!Array.isArray(panel.targets)) continue;
      const panelId = panel.id;
      if (typeof panelId !== "number") throw new TypeError(`panel "${String(panel.title)}" has no numeric id`);
      const title = typeof panel.title === "string" ? panel.title : "";
      const minInterval = typeof panel.interval === "string" && panel.interval !== "" ? panel.interval : undefined;
      for (const target of panel.targets) {
        if (!isRecord(target) || target.hide === true) continue;
        const refId = typeof target.refId === "string" ? target.refId : "";
        if (target.rawQuery !== true || typeof target.query !== "string" || target.query.trim() === "") {
          throw new TypeError(`panel ${panelId} target ${refId}: not a raw InfluxQL query (rawQuery: true with query text)`);
        }
        result.push({ panelId, title, refId, query: target.query, minInterval });
      }
    }
  };
  visit(dashboardJson.panels);
  return result;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
