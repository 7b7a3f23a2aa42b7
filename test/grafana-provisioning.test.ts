/**
 * The Grafana files under infra/grafana agree with each other and with the InfluxDB measurement
 * schema the aggregator writes (the public contract of issue 5). Running the queries against a
 * real InfluxDB is a separate, slower test; this one only reads files.
 */
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { dashboardVariables, expandInfluxqlMacros, listPanelQueries } from "../lib/hot/grafana-influxql.ts";

const grafanaDir = resolve(import.meta.dirname, "..", "infra", "grafana");
const readText = (path: string) => Bun.file(join(grafanaDir, path)).text();

/** The measurement schema: tags and fields per measurement. */
const SCHEMA: Record<string, { tags: readonly string[]; fields: readonly string[] }> = {
  order_window: {
    tags: ["window", "partition"],
    fields: ["orders", "revenue", "revenue_cents", "items", "customers", "final"],
  },
  order_window_by_category: { tags: ["window", "partition", "category"], fields: ["orders", "revenue", "revenue_cents", "items"] },
  order_window_by_country: { tags: ["window", "partition", "country"], fields: ["orders", "revenue", "revenue_cents", "items"] },
  pipeline: {
    tags: ["worker", "partition"],
    fields: ["events", "counted", "late", "duplicates", "invalid", "watermark_delay_ms", "consumer_lag", "checkpoint_age_ms"],
  },
};

const ALLOWED_UNITS = ["currencyUSD", "short", "ms", "percent"];

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { refId: string; datasource?: { type?: string; uid?: string }; query?: string }[];
}

const dashboard = JSON.parse(await readText("dashboards/orderpulse.json")) as { panels: Panel[] } & Record<string, unknown>;
const datasources = Bun.YAML.parse(await readText("provisioning/datasources/influxdb.yaml")) as {
  apiVersion: number;
  datasources: Record<string, any>[];
};
const datasource = datasources.datasources[0] ?? {};
/** Where compose mounts the read-only token influxdb-init makes (infra/compose.yaml, grafana). */
const GRAFANA_READER_TOKEN_FILE = "/run/orderpulse/influx-reader/token";

/**
 * What one InfluxQL SELECT reads. A small splitter for the shapes this dashboard uses
 * (`SELECT list FROM "m" | (subquery) [WHERE ...] [GROUP BY ...] [fill(...)]`), not a parser.
 */
interface SelectShape {
  /** The measurement read, or undefined when the source is a subquery. */
  measurement: string | undefined;
  subquery: SelectShape | undefined;
  /** Double-quoted identifiers read in the select list (aliases after AS excluded). */
  selected: string[];
  aliases: string[];
  /** Double-quoted identifiers in WHERE. */
  filtered: string[];
  /** Double-quoted identifiers in GROUP BY. */
  grouped: string[];
  hasTimeFilter: boolean;
}

function topLevelIndex(text: string, keyword: RegExp): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && keyword.test(text.slice(i, i + 12))) return i;
  }
  return -1;
}

/** Index of the ")" that closes the "(" at index 0. */
function closingParen(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) return i;
  }
  throw new Error(`unbalanced parentheses: ${text}`);
}

function quoted(text: string): string[] {
  return [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? "");
}

function parseSelect(sql: string): SelectShape {
  const text = sql.trim();
  if (!/^SELECT /i.test(text)) throw new Error(`not a SELECT: ${text}`);
  const fromAt = topLevelIndex(text, /^ FROM /i);
  if (fromAt < 0) throw new Error(`no FROM: ${text}`);
  const selectList = text.slice("SELECT ".length, fromAt);
  let rest = text.slice(fromAt + " FROM ".length);
  let measurement: string | undefined;
  let subquery: SelectShape | undefined;
  if (rest.startsWith("(")) {
    const close = closingParen(rest);
    subquery = parseSelect(rest.slice(1, close));
    rest = rest.slice(close + 1);
  } else {
    const m = /^"([^"]+)"/.exec(rest);
    if (!m) throw new Error(`FROM is not a quoted measurement or a subquery: ${rest}`);
    measurement = m[1];
    rest = rest.slice(m[0].length);
  }
  const aliases = [...selectList.matchAll(/ AS "([^"]+)"/gi)].map((m) => m[1] ?? "");
  const selected = quoted(selectList.replace(/ AS "[^"]+"/gi, ""));
  const groupAt = topLevelIndex(rest, /^ GROUP BY /i);
  const where = groupAt < 0 ? rest : rest.slice(0, groupAt);
  const group = groupAt < 0 ? "" : rest.slice(groupAt);
  return { measurement, subquery, selected, aliases, filtered: quoted(where), grouped: quoted(group), hasTimeFilter: rest.includes("$timeFilter") };
}

/** Problems with one query against SCHEMA; empty when it reads only what the schema has. */
function schemaProblems(query: string): string[] {
  const problems: string[] = [];
  const check = (shape: SelectShape): { tags: readonly string[]; columns: readonly string[] } => {
    if (!shape.hasTimeFilter) problems.push("a SELECT without $timeFilter in its WHERE");
    let tags: readonly string[];
    let columns: readonly string[];
    if (shape.subquery) {
      const inner = check(shape.subquery);
      tags = inner.tags;
      columns = shape.subquery.aliases;
    } else {
      const schema = shape.measurement === undefined ? undefined : SCHEMA[shape.measurement];
      if (!schema) {
        problems.push(`unknown measurement "${shape.measurement}"`);
        return { tags: [], columns: [] };
      }
      tags = schema.tags;
      columns = schema.fields;
    }
    for (const name of shape.selected) if (!columns.includes(name)) problems.push(`selects "${name}", not among ${columns.join(", ")}`);
    // WHERE may test a field (the windows still open: "final" = false); GROUP BY takes tags only.
    for (const name of shape.filtered) if (!tags.includes(name) && !columns.includes(name)) problems.push(`filters by "${name}", neither a tag nor a field`);
    for (const name of shape.grouped) if (!tags.includes(name)) problems.push(`groups by "${name}", not a tag`);
    return { tags, columns: shape.aliases };
  };
  check(parseSelect(query));
  return problems;
}

describe("schema check helper", () => {
  test("schemaProblems() accepts a query that reads schema fields and tags", () => {
    expect(schemaProblems(`SELECT sum("revenue") AS "r" FROM "order_window" WHERE "window" = '1m' AND $timeFilter GROUP BY time(1m)`)).toEqual([]);
  });

  test("schemaProblems() reports a field the measurement does not have", () => {
    expect(schemaProblems(`SELECT sum("customers") FROM "order_window_by_country" WHERE $timeFilter`)).toEqual([
      `selects "customers", not among orders, revenue, revenue_cents, items`,
    ]);
  });

  test("schemaProblems() reports an unknown measurement", () => {
    expect(schemaProblems(`SELECT "orders" FROM "order_windows" WHERE $timeFilter`)).toEqual([`unknown measurement "order_windows"`]);
  });

  test("schemaProblems() reports grouping by a field instead of a tag", () => {
    expect(schemaProblems(`SELECT last("late") FROM "pipeline" WHERE $timeFilter GROUP BY "events"`)).toEqual([
      `groups by "events", not a tag`,
    ]);
  });

  test("schemaProblems() lets WHERE test a field, but not a name that is neither field nor tag", () => {
    expect(schemaProblems(`SELECT sum("orders") FROM "order_window" WHERE "final" = false AND $timeFilter`)).toEqual([]);
    expect(schemaProblems(`SELECT sum("orders") FROM "order_window" WHERE "closed" = false AND $timeFilter`)).toEqual([`filters by "closed", neither a tag nor a field`]);
  });

  test("schemaProblems() lets an outer query read only the subquery's aliases", () => {
    expect(
      schemaProblems(`SELECT sum("d"), sum("late") FROM (SELECT last("late") AS "d" FROM "pipeline" WHERE $timeFilter) WHERE $timeFilter`),
    ).toEqual([`selects "late", not among d`]);
  });

  test("schemaProblems() reports a SELECT without $timeFilter", () => {
    expect(schemaProblems(`SELECT last("late") FROM "pipeline" WHERE "worker" = 'a'`)).toEqual(["a SELECT without $timeFilter in its WHERE"]);
  });
});

describe("dashboard infra/grafana/dashboards/orderpulse.json", () => {
  test("has the fixed uid, a 5 s refresh, the last 30 minutes and a current schemaVersion", () => {
    expect({
      uid: dashboard.uid,
      refresh: dashboard.refresh,
      time: dashboard.time,
      schemaVersionAtLeast39: (dashboard.schemaVersion as number) >= 39,
    }).toEqual({ uid: "orderpulse", refresh: "5s", time: { from: "now-30m", to: "now" }, schemaVersionAtLeast39: true });
  });

  test("panel ids are unique", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toEqual(ids.length);
  });

  test("has the four KPI stat panels of issue 21 on top, over the last hour, then the eight time series of issue 5", () => {
    expect(dashboard.panels.slice(0, 4).map((p) => [p.type, p.title, p.gridPos!.y, (p as { timeFrom?: string }).timeFrom])).toEqual(
      ["Revenue, last hour", "Orders, last hour", "Late, last hour", "Invalid, last hour"].map((title) => ["stat", title, 0, "1h"]),
    );
    expect(dashboard.panels.slice(4).map((p) => [p.type, p.title])).toEqual(
      [
        "Revenue per minute",
        "Orders per minute",
        "Average order value",
        "Revenue by category",
        "Revenue by country",
        "Late and invalid events per minute",
        "Watermark delay and consumer lag",
        "Pipeline throughput",
      ].map((title) => ["timeseries", title]),
    );
  });

  test("every panel and every target uses the provisioned datasource uid", () => {
    const uids = dashboard.panels.flatMap((p) => [p.datasource?.uid, ...(p.targets ?? []).map((t) => t.datasource?.uid)]);
    expect(new Set(uids)).toEqual(new Set([datasource.uid]));
  });

  test("every panel has a grid position inside the 24-column grid, and none overlap", () => {
    const boxes = dashboard.panels.map((p) => p.gridPos);
    for (const box of boxes) {
      expect(box !== undefined && box.x >= 0 && box.w > 0 && box.h > 0 && box.x + box.w <= 24).toBe(true);
    }
    const overlaps = boxes.flatMap((a, i) =>
      boxes.slice(i + 1).filter((b) => a && b && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h),
    );
    expect(overlaps).toEqual([]);
  });

  test("every panel sets a unit from the dashboard's set", () => {
    const units = dashboard.panels.map((p) => p.fieldConfig?.defaults?.unit);
    expect(units.filter((u) => u === undefined || !ALLOWED_UNITS.includes(u))).toEqual([]);
  });

  test("every target is a raw InfluxQL query", () => {
    const targets = dashboard.panels.flatMap((p) => p.targets ?? []);
    expect(listPanelQueries(dashboard).length).toEqual(targets.length);
  });

  test("every query reads only measurements, fields and tags of the schema, within $timeFilter", () => {
    const problems = listPanelQueries(dashboard).flatMap((q) => schemaProblems(q.query).map((p) => `panel ${q.panelId} ${q.refId}: ${p}`));
    expect(problems).toEqual([]);
  });

  test("the window size is the variable $window, listed from the window tags InfluxDB holds, 1m at first; no query fixes it", () => {
    const list = (dashboard.templating as { list: { name: string; type: string; query: string; current: { value: string } }[] }).list;
    expect(list.map((v) => ({ name: v.name, type: v.type, query: v.query, current: v.current.value }))).toEqual([
      { name: "window", type: "query", query: 'SHOW TAG VALUES FROM "order_window" WITH KEY = "window"', current: "1m" },
    ]);
    for (const q of listPanelQueries(dashboard)) {
      expect({ panel: q.panelId, refId: q.refId, fixed: /"window" = '(?!\$window')/.test(q.query) }).toEqual({ panel: q.panelId, refId: q.refId, fixed: false });
    }
    expect(listPanelQueries(dashboard).filter((q) => q.query.includes("'$window'")).length).toBeGreaterThanOrEqual(8);
  });

  test("the revenue and orders panels draw the windows still open again, dashed", () => {
    for (const title of ["Revenue per minute", "Orders per minute"]) {
      const p = dashboard.panels.find((x) => x.title === title)! as Panel & { fieldConfig: { overrides: { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] }[] } };
      expect(p.targets!.map((t) => [t.refId, t.query!.includes(`"final" = false`)])).toEqual([["A", false], ["B", true]]);
      const override = p.fieldConfig.overrides.find((o) => o.matcher.id === "byFrameRefID" && o.matcher.options === "B")!;
      expect(override.properties.find((x) => x.id === "custom.lineStyle")!.value).toEqual({ fill: "dash", dash: [10, 10] });
    }
  });

  test("every query is left with no unexpanded variable once Grafana's macros are expanded", () => {
    const expanded = listPanelQueries(dashboard).map((q) =>
      expandInfluxqlMacros(q.query, { fromMs: 1_700_000_000_000, toMs: 1_700_001_800_000, intervalMs: 60_000, variables: dashboardVariables(dashboard) }),
    );
    expect(expanded.filter((q) => q.includes("$"))).toEqual([]);
  });
});

describe("datasource infra/grafana/provisioning/datasources/influxdb.yaml", () => {
  test("provisions one InfluxQL datasource with the fixed uid, URL and bucket from the environment", () => {
    expect({
      apiVersion: datasources.apiVersion,
      count: datasources.datasources.length,
      type: datasource.type,
      uid: datasource.uid,
      access: datasource.access,
      url: datasource.url,
      database: datasource.database,
      version: datasource.jsonData?.version,
      dbName: datasource.jsonData?.dbName,
    }).toEqual({
      apiVersion: 1,
      count: 1,
      type: "influxdb",
      uid: "orderpulse-influxdb",
      access: "proxy",
      url: "${INFLUX_URL}",
      database: "${INFLUX_BUCKET}",
      version: "InfluxQL",
      dbName: "${INFLUX_BUCKET}",
    });
  });

  test("sends the read-only token from the file compose mounts, in an Authorization header", () => {
    expect([datasource.jsonData?.httpHeaderName1, datasource.secureJsonData?.httpHeaderValue1]).toEqual([
      "Authorization",
      `Token $__file{${GRAFANA_READER_TOKEN_FILE}}`,
    ]);
  });

  test("holds no literal secret: every secure value and password is a file or environment reference", () => {
    const secrets = [
      ...Object.values((datasource.secureJsonData ?? {}) as Record<string, unknown>),
      datasource.password,
      datasource.jsonData?.token,
    ].filter((v) => v !== undefined);
    expect(secrets.length).toBeGreaterThan(0);
    expect(secrets.filter((v) => typeof v !== "string" || !/^(Token |Bearer )?(\$\{[A-Z_]+\}|\$__file\{\/[^}]+\})$/.test(v))).toEqual([]);
  });
});

describe("dashboard provider infra/grafana/provisioning/dashboards/orderpulse.yaml", () => {
  test("loads files from the path the compose file mounts infra/grafana/dashboards at", async () => {
    const providers = Bun.YAML.parse(await readText("provisioning/dashboards/orderpulse.yaml")) as { providers: Record<string, any>[] };
    expect(providers.providers.map((p) => ({ type: p.type, path: p.options?.path }))).toEqual([
      { type: "file", path: "/var/lib/grafana/dashboards/orderpulse" },
    ]);
  });
});

interface AlertQuery {
  refId: string;
  relativeTimeRange?: { from: number; to: number };
  datasourceUid: string;
  model: { refId: string; type?: string; expression?: string; query?: string; rawQuery?: boolean; reducer?: string; conditions?: { evaluator: { type: string; params: number[] } }[] };
}
interface AlertRule {
  uid: string;
  title: string;
  condition: string;
  data: AlertQuery[];
  noDataState: string;
  execErrState: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const alerting = Bun.YAML.parse(await readText("provisioning/alerting/orderpulse-alerts.yaml")) as {
  apiVersion: number;
  groups: { orgId: number; name: string; folder: string; interval: string; rules: AlertRule[] }[];
};
const rules = alerting.groups.flatMap((g) => g.rules);

describe("alert rules infra/grafana/provisioning/alerting/orderpulse-alerts.yaml", () => {
  test("one group in the orderpulse folder, evaluated every minute, with the five rules of issue 21", () => {
    expect(alerting.apiVersion).toBe(1);
    expect(alerting.groups.map((g) => ({ orgId: g.orgId, name: g.name, folder: g.folder, interval: g.interval }))).toEqual([
      { orgId: 1, name: "orderpulse", folder: "orderpulse", interval: "1m" },
    ]);
    expect(rules.map((r) => r.uid)).toEqual([
      "orderpulse-consumer-lag",
      "orderpulse-watermark-delay",
      "orderpulse-dlq-rate",
      "orderpulse-sink-backlog",
      "orderpulse-no-emissions",
    ]);
  });

  test("every rule's condition is one of its steps, and every expression reads a step before it", () => {
    for (const rule of rules) {
      const refIds = rule.data.map((d) => d.refId);
      expect({ uid: rule.uid, unique: new Set(refIds).size === refIds.length, condition: refIds.includes(rule.condition) }).toEqual({ uid: rule.uid, unique: true, condition: true });
      rule.data.forEach((step, i) => {
        expect({ uid: rule.uid, refId: step.refId, model: step.model.refId }).toEqual({ uid: rule.uid, refId: step.refId, model: step.refId });
        if (step.datasourceUid !== "__expr__") return;
        const reads = step.model.type === "math" ? [...step.model.expression!.matchAll(/\$(\w+)/g)].map((m) => m[1]) : [step.model.expression];
        for (const read of reads) expect({ uid: rule.uid, step: step.refId, read, before: refIds.slice(0, i).includes(read!) }).toEqual({ uid: rule.uid, step: step.refId, read, before: true });
        expect(["reduce", "math", "threshold"]).toContain(step.model.type!);
      });
      // The condition is a threshold, so the rule fires on a number, not on a time series.
      expect(rule.data.find((d) => d.refId === rule.condition)!.model.type).toBe("threshold");
    }
  });

  test("every query is raw InfluxQL on the provisioned datasource, over a relative range, reading only the schema", () => {
    for (const rule of rules) {
      for (const step of rule.data.filter((d) => d.datasourceUid !== "__expr__")) {
        expect({ uid: rule.uid, datasource: step.datasourceUid, raw: step.model.rawQuery, range: (step.relativeTimeRange?.from ?? 0) > 0 }).toEqual({
          uid: rule.uid,
          datasource: datasource.uid,
          raw: true,
          range: true,
        });
        expect({ uid: rule.uid, problems: schemaProblems(step.model.query!) }).toEqual({ uid: rule.uid, problems: [] });
      }
    }
  });

  test("every rule waits a while before firing, says what it means, and has a severity; only the no-emissions rule fires on no data", () => {
    for (const rule of rules) {
      expect({ uid: rule.uid, for: rule.for, severity: rule.labels.severity, summary: (rule.annotations.summary ?? "").length > 20, description: (rule.annotations.description ?? "").length > 40 }).toEqual({
        uid: rule.uid,
        for: expect.stringMatching(/^\d+m$/),
        severity: expect.stringMatching(/^(warning|critical)$/),
        summary: true,
        description: true,
      });
      expect({ uid: rule.uid, noData: rule.noDataState, execErr: rule.execErrState }).toEqual({ uid: rule.uid, noData: rule.uid === "orderpulse-no-emissions" ? "Alerting" : "OK", execErr: "Error" });
    }
  });

  test("infra/grafana/README.md documents every rule by its uid", async () => {
    const readme = await readText("README.md");
    for (const rule of rules) expect({ uid: rule.uid, documented: readme.includes(rule.uid) }).toEqual({ uid: rule.uid, documented: true });
  });
});
