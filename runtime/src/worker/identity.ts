/** Who is asking, as authentication established it: `userId` and the claims go to the scope rules. */
export interface Identity {
  readonly userId: string;
  readonly claims: Readonly<Record<string, unknown>>;
}
