/**
 * What the notebooks show: Observable Plot rendered server-side (linkedom stands in for the
 * browser's document; the Deno kernel shows an `<svg>` element as image/svg+xml and a `<figure>`
 * as text/html), and HTML tables and banners with a plain-text twin, so a terminal, nbconvert or
 * a test reading the saved outputs sees the same figures as JupyterLab.
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

// Typed through Plot's own option type: Deno's default libs have no DOM types.
const { document } = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as { document: Plot.PlotOptions["document"] };

/** `Plot.plot` with the server-side document; white background so dark themes stay readable. */
export function plot(options: Plot.PlotOptions): ReturnType<typeof Plot.plot> {
  return Plot.plot({ document, style: { background: "white", color: "black" }, ...options });
}

export { Plot };

type Displayable = { [key: symbol]: () => Record<string, string> };

function displayable(html: string, text: string): Displayable {
  return { [Symbol.for("Jupyter.display")]: () => ({ "text/html": html, "text/plain": text }) };
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

export interface Column<T> {
  label: string;
  value: (row: T) => string | number;
}

/** A table of `rows`; `highlight` rows are shown on a red background. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], options: { highlight?: (row: T) => boolean } = {}): Displayable {
  const cells = rows.map((r) => columns.map((c) => String(c.value(r))));
  const head = `<tr>${columns.map((c) => `<th>${escapeHtml(c.label)}</th>`).join("")}</tr>`;
  const body = cells
    .map((row, i) => {
      const style = options.highlight?.(rows[i]!) ? ' style="background:#fdd;color:#900;font-weight:bold"' : "";
      return `<tr${style}>${row.map((v) => `<td>${escapeHtml(v)}</td>`).join("")}</tr>`;
    })
    .join("");
  const widths = columns.map((c, j) => Math.max(c.label.length, ...cells.map((row) => row[j]!.length)));
  const line = (values: string[]) => values.map((v, j) => v.padStart(widths[j]!)).join("  ");
  const text = [line(columns.map((c) => c.label)), ...cells.map(line)].join("\n");
  return displayable(`<table>${head}${body}</table>`, text);
}

/** A one-line banner: green when `ok`, large and red otherwise. */
export function banner(message: string, ok: boolean): Displayable {
  const style = ok
    ? "padding:6px 10px;background:#e6f4ea;color:#135;border-left:6px solid #2a7"
    : "padding:10px 14px;background:#fde8e8;color:#900;border-left:8px solid #d00;font-size:1.3em;font-weight:bold";
  return displayable(`<div style="${style}">${escapeHtml(message)}</div>`, message);
}

/** Cents as USD with two decimals; a bigint (an exact window revenue) exactly, at any size. */
export const usd = (cents: number | bigint) => {
  if (typeof cents === "number") return (cents / 100).toFixed(2);
  const digits = String(cents < 0n ? -cents : cents).padStart(3, "0");
  return `${cents < 0n ? "-" : ""}${digits.slice(0, -2)}.${digits.slice(-2)}`;
};
export const isoHour = (ms: number) => new Date(ms).toISOString().slice(0, 13) + ":00Z";
export const isoMinute = (ms: number) => new Date(ms).toISOString().slice(0, 16) + "Z";
