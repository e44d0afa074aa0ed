/** Who is asking, as authentication established it: `userId` and the claims go to the scope rules. */
export interface Identity {
  readonly userId: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Trusts `Authorization: Bearer <user id>` as is, like the Python host's
 * `bearer_user_for_development`: for a demo or a test on a laptop only, never in production.
 */
export function bearerUserForDevelopment(request: Request): Identity | null {
  const header = request.headers.get("authorization") ?? "";
  const space = header.indexOf(" ");
  const token = space < 0 ? "" : header.slice(space + 1).trim();
  return header.slice(0, space).toLowerCase() === "bearer" && token ? { userId: token, claims: {} } : null;
}
