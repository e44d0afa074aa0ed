import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./style.css";

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");
// No StrictMode: its double-run effects would open the same OPFS database twice at once, which
// the exclusive opfs-sahpool VFS refuses.
createRoot(root).render(<App />);

if ("serviceWorker" in navigator && import.meta.env.PROD) {
  void navigator.serviceWorker.register("/sw.js");
}
