// The app shell's service worker: a reload works offline. It precaches every file of the build
// (listed in precache.json, which the build writes), answers same-origin GETs from that cache,
// and answers navigations with the network first so a new build shows once it is online.
// Files of older builds stay in the cache; a real app would version CACHE per build.
// Sync requests (/sync/*, POST) and the demo's user list never touch the cache.
const CACHE = "shell-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const files = await (await fetch("/precache.json", { cache: "no-store" })).json();
      const cache = await caches.open(CACHE);
      await cache.addAll(["/", ...files]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/sync/") || url.pathname.startsWith("/demo/")) return;
  if (event.request.mode === "navigate") {
    event.respondWith(
      (async () => {
        try {
          const response = await fetch(event.request);
          (await caches.open(CACHE)).put("/", response.clone());
          return response;
        } catch {
          return (await caches.match("/")) ?? Response.error();
        }
      })(),
    );
    return;
  }
  // sw.js stays the same across builds, so a new build's files were not precached: keep each one
  // the first time it is fetched, so that build works offline too.
  event.respondWith(
    (async () => {
      const cached = await caches.match(event.request, { ignoreSearch: true });
      if (cached) return cached;
      const response = await fetch(event.request);
      if (response.ok) (await caches.open(CACHE)).put(event.request, response.clone());
      return response;
    })(),
  );
});
