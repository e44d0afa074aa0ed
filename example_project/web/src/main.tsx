import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./style.css";

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");
// StrictMode, as React advises: in development it mounts, unmounts and mounts again, which opens
// the user's TabClient, closes it and opens it again; TabClient frees the database and its lock
// on close, so the second open takes it over (it does nothing in a production build).
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

if ("serviceWorker" in navigator && import.meta.env.PROD) {
  void navigator.serviceWorker.register("/sw.js");
}
