// The package root holds what generated code and apps share; the engine is `drizzlesync/client`.
export * from "./protocol/index.ts";
