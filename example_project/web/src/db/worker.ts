// The dedicated Worker that owns the OPFS database: importing the adapter's worker module serves it.
import "drizzlesync/adapters/wasm-worker";
