import type { ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse } from "../protocol/messages.ts";
import { SyncHttpError, SyncNetworkError } from "./errors.ts";

/** How the engine reaches a sync host; HTTP in practice, anything in tests. */
export interface Transport {
  push(request: PushRequest): Promise<PushResponse>;
  pull(request: PullRequest): Promise<PullResponse>;
}

export interface HttpTransportOptions {
  /** The base URL the host serves `/push` and `/pull` under, e.g. "https://api.example.com/sync". */
  readonly url: string;
  /** The bearer token for each request; null sends none. Called per request, so it may refresh. */
  readonly getToken?: () => string | null | Promise<string | null>;
  readonly fetch?: typeof globalThis.fetch;
}

/** Retry-After is either delay-seconds or an HTTP date. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const error: unknown = body.error;
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string";
}

export function httpTransport(options: HttpTransportOptions): Transport {
  const base = options.url.replace(/\/+$/, "");
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);

  async function post<T>(path: string, body: unknown): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = options.getToken ? await options.getToken() : null;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let response: Response;
    let text: string;
    try {
      response = await fetchFn(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
      text = await response.text();
    } catch (error) {
      throw new SyncNetworkError(error);
    }
    if (!response.ok) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const after = retryAfterMs(response.headers.get("retry-after"), Date.now());
      throw new SyncHttpError(response.status, isErrorBody(parsed) ? parsed : undefined, after);
    }
    return JSON.parse(text) as T;
  }

  return {
    push: (request) => post<PushResponse>("/push", request),
    pull: (request) => post<PullResponse>("/pull", request),
  };
}
