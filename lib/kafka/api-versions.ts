/**
 * Which version of a Kafka API to speak to one broker: the newest both sides support.
 *
 * The hand-written request paths (lib/kafka/group-fetcher.ts's Fetch, lib/kafka/batch-producer.ts's
 * Produce) ask each broker — each connection, so a broker upgraded or replaced in a rolling
 * restart is asked again on its new connection — for the versions it serves (ApiVersions), and
 * pick from the range this code implements. Brokers in one cluster can differ during an upgrade,
 * so the answer is per broker, never per cluster.
 *
 * Below the range (a broker older than Kafka 0.11, which has no record batch v2), the error names
 * the broker, the versions it serves and what is needed.
 */
import { apiVersionsV1, apiVersionsV3, type Connection } from "@platformatic/kafka";

/** The inclusive version range of one API. */
export interface VersionRange {
  min: number;
  max: number;
}

/** The broker serves no version of an API this code can speak. Asking again cannot help. */
export class UnsupportedBrokerError extends Error {
  override name = "UnsupportedBrokerError";
  readonly code = "UNSUPPORTED_BROKER";
}

/**
 * The newest version in both `ours` and `theirs`. Throws {@link UnsupportedBrokerError} naming
 * `api`, the broker (`where`), both ranges and `needs` (what the user must run) when there is none.
 */
export function newestCommonVersion(api: string, ours: VersionRange, theirs: VersionRange | undefined, where: string, needs: string): number {
  if (theirs === undefined) {
    throw new UnsupportedBrokerError(`the broker at ${where} does not serve ${api} at all; orderpulse needs ${api} v${ours.min} or later (${needs})`);
  }
  const version = Math.min(ours.max, theirs.max);
  if (version < ours.min || version < theirs.min) {
    throw new UnsupportedBrokerError(
      `the broker at ${where} serves ${api} v${theirs.min}-v${theirs.max}; orderpulse speaks v${ours.min}-v${ours.max}: it needs ${needs}`,
    );
  }
  return version;
}

/** Kafka's UNSUPPORTED_VERSION error code: what a broker older than 2.4 answers ApiVersions v3 with. */
const UNSUPPORTED_VERSION = 35;

type ApiRanges = Map<number, VersionRange>;

const asked = new WeakMap<Connection, Promise<ApiRanges>>();
/** The answers already in, for a caller that must not wait a turn of the event loop for a cached one. */
const answered = new WeakMap<Connection, ApiRanges>();

/**
 * The version ranges `connection`'s broker serves, per API key, asked once per connection
 * (ApiVersions v3, or v1 from a broker before Kafka 2.4). A failed ask is not kept: the next
 * call asks again.
 */
export function brokerApiVersions(connection: Connection): Promise<ApiRanges> {
  let ranges = asked.get(connection);
  if (!ranges) {
    ranges = askApiVersions(connection);
    asked.set(connection, ranges);
    ranges.then(
      (known) => answered.set(connection, known),
      () => asked.delete(connection),
    );
  }
  return ranges;
}

/** The newest version of API `apiKey` (named `api`) in `ours` that `connection`'s broker serves too. */
export async function negotiateVersion(connection: Connection, apiKey: number, api: string, ours: VersionRange, needs: string): Promise<number> {
  const ranges = answered.get(connection) ?? (await brokerApiVersions(connection));
  return newestCommonVersion(api, ours, ranges.get(apiKey), `${connection.host}:${connection.port}`, needs);
}

/**
 * {@link negotiateVersion} without waiting when `connection`'s broker has already answered:
 * the version then, synchronously, so a hot path adds no turn of the event loop per request;
 * undefined when it has not been asked yet (then call negotiateVersion).
 */
export function negotiatedVersion(connection: Connection, apiKey: number, api: string, ours: VersionRange, needs: string): number | undefined {
  const ranges = answered.get(connection);
  return ranges && newestCommonVersion(api, ours, ranges.get(apiKey), `${connection.host}:${connection.port}`, needs);
}

interface ApiVersionsResponse {
  apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[];
}

function askApiVersions(connection: Connection): Promise<ApiRanges> {
  const toRanges = (response: ApiVersionsResponse): ApiRanges => new Map(response.apiKeys.map((k) => [k.apiKey, { min: k.minVersion, max: k.maxVersion }]));
  return new Promise((resolve, reject) => {
    apiVersionsV3.api(connection, "orderpulse", "1", (error: Error | null, response?: ApiVersionsResponse) => {
      if (!error) return resolve(toRanges(response!));
      if (!isUnsupportedVersion(error)) return reject(error);
      apiVersionsV1.api(connection, "orderpulse", "1", (error: Error | null, response?: ApiVersionsResponse) => {
        if (error) reject(error);
        else resolve(toRanges(response!));
      });
    });
  });
}

function isUnsupportedVersion(error: unknown): boolean {
  const errors = (error as { errors?: unknown[] }).errors ?? [];
  const response = (error as { response?: { errorCode?: number } }).response;
  return response?.errorCode === UNSUPPORTED_VERSION || errors.some(isUnsupportedVersion) || (error as { apiCode?: number }).apiCode === UNSUPPORTED_VERSION;
}
