/** The request body, refused as soon as it passes the limit: a huge upload is never buffered whole. */
import { syncError, type SyncError } from "./contract.ts";

export function requestTooLarge(limit: number): SyncError {
  return syncError("request_too_large", `the request body exceeds ${limit} bytes`, undefined, {
    maxBytes: limit,
  });
}

export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  return readLimited(request, limit, {
    tooLarge: () => requestTooLarge(limit),
    // The client went away mid-body (fewer bytes than its Content-Length): what came is no request.
    broken: (error) =>
      syncError("malformed_json", `the request body broke off before its end (${error instanceof Error ? error.message : String(error)})`),
  });
}

/**
 * A request's or a fetched answer's body, read whole but refused as soon as it passes `limit`
 * bytes, declared (Content-Length) or as they arrive: nothing larger is ever buffered. The errors
 * thrown are the caller's: `tooLarge` past the limit, `broken` when the stream fails midway.
 */
export async function readLimited(
  message: Request | Response,
  limit: number,
  errors: { tooLarge: () => Error; broken: (error: unknown) => Error },
): Promise<Uint8Array> {
  const declared = message.headers.get("content-length") ?? "";
  if (/^\d+$/.test(declared) && Number(declared) > limit) {
    throw errors.tooLarge();
  }
  if (message.body === null) {
    return new Uint8Array();
  }
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch((error: unknown) => {
      throw errors.broken(error);
    });
    if (done) {
      break;
    }
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw errors.tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * Reads and drops what is left of a body the answer did not need (401, 415, 404, …), up to
 * the limit: workerd drops a keep-alive connection whose request body was left unread, and
 * the client's next request on it fails. A body declared or found larger lets the connection go.
 */
export async function discardBody(request: Request, limit: number): Promise<void> {
  const declared = request.headers.get("content-length") ?? "";
  if (request.body === null || request.body.locked || (/^\d+$/.test(declared) && Number(declared) > limit)) {
    return;
  }
  const reader = request.body.getReader();
  try {
    for (let size = 0; size <= limit; ) {
      const { done, value } = await reader.read();
      if (done) {
        return;
      }
      size += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away: nothing left to keep the connection for.
  }
}
