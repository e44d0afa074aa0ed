import { jsonText, parseJson } from "../protocol/json.ts";
import type { ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse } from "../protocol/messages.ts";
import { SyncHttpError, SyncNetworkError } from "./errors.ts";

/**
 * How the engine reaches a sync host; HTTP in practice, anything in tests. `signal` aborts a
 * request the engine no longer waits for (it is closing): the request should then reject soon.
 */
export interface Transport {
  push(request: PushRequest, signal?: AbortSignal): Promise<PushResponse>;
  pull(request: PullRequest, signal?: AbortSignal): Promise<PullResponse>;
}

/** How long a request may take before it is given up as a network failure, by default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface HttpTransportOptions {
  /** The base URL the host serves `/push` and `/pull` under, e.g. "https://api.example.com/sync". */
  readonly url: string;
  /** The bearer token for each request; null sends none. Called per request, so it may refresh. */
  readonly getToken?: () => string | null | Promise<string | null>;
  readonly fetch?: typeof globalThis.fetch;
  /**
   * Milliseconds a request (its token got and its answer read whole) may take before it is aborted
   * and reported as a network failure, retried on the backoff (default 60,000). A browser's fetch
   * has no such limit: a connection left half open by a network switch, or a token refresh that
   * never answers, would otherwise hold the sync, and the engine's `close()`, for good.
   */
  readonly requestTimeoutMs?: number;
}

/**
 * Aborts when `outer` does or after `ms`, with `timeout` as its reason then; `done` clears the timer
 * and the listener.
 */
function requestSignal(ms: number, outer: AbortSignal | undefined): { signal: AbortSignal; timeout: Error; done: () => void } {
  const controller = new AbortController();
  const timeout = new Error(`sync: no answer from the host within ${ms} ms`);
  const timer = setTimeout(() => {
    controller.abort(timeout);
  }, ms);
  const abort = () => {
    controller.abort(outer?.reason);
  };
  if (outer?.aborted === true) abort();
  outer?.addEventListener("abort", abort, { once: true });
  return {
    signal: controller.signal,
    timeout,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", abort);
    },
  };
}

/** `promise`'s outcome, or `onAbort()`'s error as soon as `signal` aborts first. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      reject(onAbort());
    };
    if (signal.aborted) abort();
    signal.addEventListener("abort", abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", abort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * Retry-After is either delay-seconds or an HTTP date. A date is measured from the response's own
 * `Date` when it has one (the same server's clock), and from the device's clock only otherwise: a
 * device whose clock ran a day behind waited a day longer than the server asked.
 */
function retryAfterMs(headers: Headers, now: number): number | undefined {
  const header = headers.get("retry-after");
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  if (Number.isNaN(date)) return undefined;
  const sent = Date.parse(headers.get("date") ?? "");
  return Math.max(0, date - (Number.isNaN(sent) ? now : sent));
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const error: unknown = body.error;
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string";
}

export function httpTransport(options: HttpTransportOptions): Transport {
  const base = options.url.replace(/\/+$/, "");
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);

  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // Async, so that a getToken that throws rejects like one whose promise does.
  const getToken = async (): Promise<string | null> => (options.getToken ? options.getToken() : null);

  async function post<T>(path: string, body: unknown, outer: AbortSignal | undefined): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    let response: Response;
    let text: string;
    // Made before the token is asked for: a token refresh that never answers is bounded too.
    const { signal, timeout, done } = requestSignal(timeoutMs, outer);
    try {
      // getToken's own failure is the app's, passed on as it is; only the wait ends as a network failure.
      const token = await unlessAborted(getToken(), signal, () => {
        const reason: unknown = signal.reason;
        return new SyncNetworkError(reason === timeout ? new Error(`sync: no token from getToken() within ${timeoutMs} ms`) : reason);
      });
      if (token !== null) headers.authorization = `Bearer ${token}`;
      try {
        // Not JSON.stringify alone: a value nested thousands deep (a pulled JSON value a write carries
        // back) made it throw, reported as a network failure and retried for good; sent, the host
        // refuses it by its path (400 nesting_too_deep), which the engine knows what to do with.
        response = await fetchFn(`${base}${path}`, { method: "POST", headers, body: jsonText(body), signal });
        text = await response.text();
      } catch (error) {
        // An abort rejects with the signal's reason (the timeout's error) where fetch honours it.
        throw new SyncNetworkError(signal.aborted ? signal.reason : error);
      }
    } finally {
      done();
    }
    if (!response.ok) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const after = retryAfterMs(response.headers, Date.now());
      throw new SyncHttpError(response.status, isErrorBody(parsed) ? parsed : undefined, after);
    }
    return parseJson(text) as T;
  }

  return {
    push: (request, signal) => post<PushResponse>("/push", request, signal),
    pull: (request, signal) => post<PullResponse>("/pull", request, signal),
  };
}
