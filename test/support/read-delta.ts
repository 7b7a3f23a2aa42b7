/**
 * The lake's Delta table as engines we did not write read it: test/support/read_delta.py runs
 * delta-rs (the deltalake package) or Polars (polars.read_delta) from the .venv scripts/setup.sh
 * makes, on a local path or an s3:// table of `s3` (moto).
 */
import { join } from "node:path";
import { repoRoot } from "./pipeline-harness.ts";
import { S3_TEST_CREDENTIALS, type S3Server } from "./s3-server.ts";

/** What read_delta.py prints: rows as [kafka_partition, kafka_offset, event_id, dt, hour, total_usd_cents, created_at ms]. */
export interface DeltaEngineView {
  engine: string;
  version: number;
  protocol: [number, number];
  partitionColumns: string[];
  fields: [string, string][];
  files: number;
  /** The txn version of each application id asked for; null when the table has none. */
  txn: Record<string, number | null>;
  rows: [string, string, string, string, string, string, number][];
}

export async function readDelta(engine: "deltalake" | "polars", uri: string, version: number | "latest", appIds: string[], s3?: S3Server): Promise<DeltaEngineView> {
  const child = Bun.spawn([join(repoRoot, ".venv", "bin", "python"), join(repoRoot, "test", "support", "read_delta.py"), engine, uri, String(version), ...appIds], {
    env: {
      ...process.env,
      ...(s3
        ? { AWS_ENDPOINT_URL: s3.url, AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey, AWS_REGION: S3_TEST_CREDENTIALS.region }
        : {}),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  if (code !== 0) throw new Error(`read_delta.py ${engine} ${uri} ${version} failed (exit ${code}); run \`bash scripts/setup.sh\` if deltalake or polars is missing:\n${err}`);
  return JSON.parse(out) as DeltaEngineView;
}
