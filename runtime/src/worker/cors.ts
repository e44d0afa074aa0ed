/**
 * CORS for the sync endpoints, answering as the Python host's (Starlette's) middleware does:
 * listed origins only, with credentials, POST with `authorization` and `content-type`.
 * A preflight from an unlisted origin gets no `Access-Control-Allow-Origin`.
 */
import rule from "../../protocol/cors.json" with { type: "json" };

export interface CorsOptions {
  /** Exact origins, e.g. `https://app.example.com`. */
  readonly origins: readonly string[];
  /** How long a browser may cache a preflight, in seconds (default 600). */
  readonly maxAge?: number;
}

// Starlette answers the CORS-safelisted request headers beside the configured ones.
const ALLOWED_HEADERS = [
  "Accept",
  "Accept-Language",
  "Content-Language",
  "Content-Type",
  "authorization",
  "content-type",
];
const ALLOWED = new Set(ALLOWED_HEADERS.map((name) => name.toLowerCase()));

// An origin as a browser sends it in `Origin` (protocol/cors.json, which the Python host's
// `check_origin` applies too).
const ORIGIN = new RegExp(rule.originPattern);
const DEFAULT_PORTS: Readonly<Record<string, string>> = rule.defaultPorts;

/**
 * Throws for an origin no browser's `Origin` header can ever equal: origins are compared as exact
 * strings, so one copied from the address bar (`https://app.example.com/`) matched no request, the
 * page's preflights were refused and its client stayed offline, with nothing in any log.
 */
export function checkOrigin(origin: string): void {
  const defaultPort = DEFAULT_PORTS[origin.split(":")[0] ?? ""];
  if (!ORIGIN.test(origin) || (defaultPort !== undefined && origin.endsWith(defaultPort))) {
    throw new TypeError(rule.message.replace("{origin}", JSON.stringify(origin)));
  }
}

/**
 * A browser's preflight names the origin it asks for; an OPTIONS without one is no CORS request
 * and is answered as any other method (405), as Starlette's middleware passes it on.
 */
export function isPreflight(request: Request): boolean {
  return (
    request.method === "OPTIONS" &&
    request.headers.has("origin") &&
    request.headers.has("access-control-request-method")
  );
}

export function preflight(request: Request, cors: CorsOptions | undefined): Response {
  const origin = request.headers.get("origin") ?? "";
  const headers = new Headers({
    "access-control-allow-methods": "POST",
    "access-control-max-age": String(cors?.maxAge ?? 600),
    "access-control-allow-credentials": "true",
    "access-control-allow-headers": ALLOWED_HEADERS.join(", "),
    vary: "Origin",
    "content-type": "text/plain; charset=utf-8",
  });
  const failures: string[] = [];
  if (cors?.origins.includes(origin)) {
    headers.set("access-control-allow-origin", origin);
  } else {
    failures.push("origin");
  }
  if (request.headers.get("access-control-request-method") !== "POST") {
    failures.push("method");
  }
  const requested = request.headers.get("access-control-request-headers") ?? "";
  if (requested.split(",").some((name) => name.trim() !== "" && !ALLOWED.has(name.trim().toLowerCase()))) {
    failures.push("headers");
  }
  const text = failures.length ? `Disallowed CORS ${failures.join(", ")}` : "OK";
  return new Response(text, { status: failures.length ? 400 : 200, headers });
}

/** The response with the CORS headers an allowed origin's actual request gets. */
export function withCors(request: Request, response: Response, cors: CorsOptions | undefined): Response {
  const origin = request.headers.get("origin");
  if (origin === null || !cors?.origins.includes(origin)) {
    return response;
  }
  response.headers.set("access-control-allow-origin", origin);
  response.headers.set("access-control-allow-credentials", "true");
  // Not a CORS-safelisted response header: without this a page on another origin sees a 503 but
  // not how long to wait (Starlette's middleware is given the same).
  response.headers.set("access-control-expose-headers", "retry-after");
  response.headers.append("vary", "Origin");
  return response;
}
