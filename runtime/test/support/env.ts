/** An environment variable an integration script cannot run without (tests/client sets them). */
export function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}
