"""Code generation: Drizzle schemas, sync metadata and client migrations from the live database."""
