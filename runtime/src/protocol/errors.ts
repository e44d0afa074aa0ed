/**
 * What a client does about an error response, keyed on the HTTP status and refined by
 * `error.code`, so that the table can come from the protocol's error list as data.
 */
export type ErrorAction =
  | "retry" // temporary: try again after a backoff (and the server's Retry-After)
  | "reauthenticate" // the token is missing, expired or refused: wait for a new one
  | "update" // this build's schema version is not served: wait for a new build
  | "fail"; // the request itself is wrong: report it; retrying as is will not help

const byCode: Readonly<Record<string, ErrorAction>> = {
  temporarily_unavailable: "retry",
  unauthenticated: "reauthenticate",
  // The database's client id is another user's: only a token of that user (or another database) helps.
  client_id_taken: "reauthenticate",
  schema_version_unsupported: "update",
};

const byStatus: Readonly<Record<number, ErrorAction>> = {
  401: "reauthenticate",
  502: "retry",
  503: "retry",
  504: "retry",
};

export function errorAction(status: number, code: string | undefined): ErrorAction {
  return (code === undefined ? undefined : byCode[code]) ?? byStatus[status] ?? "fail";
}
