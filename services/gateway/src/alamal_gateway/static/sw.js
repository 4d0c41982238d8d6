/* Al Amal service worker: the few pages a trusted person needs in a living room, offline.
 *
 * Served as /sw.js (scope /) by the gateway, which fills in VERSION (a digest of the assets
 * below) and MAX_AGE (the session's absolute lifetime in seconds).
 *
 * - Assets (style, scripts, icons, manifest, the offline notice): cached at install.
 * - Pages: always from the network first. A page the gateway marks `X-Offline: keep` (her
 *   caseload, a visit form, a family's summary; only for a trusted person) is kept in the
 *   pages cache, stamped with the time. Without a connection a kept page is served if it is
 *   younger than MAX_AGE; a family page falls back to that family's kept summary; anything
 *   else gets the offline notice. Nothing else is ever stored.
 * - The page script (offline.js) wipes the pages cache at logout and on the login page.
 */
'use strict';

const VERSION = '__VERSION__';
const MAX_AGE = Number('__MAX_AGE__') * 1000;
const ASSETS = `alamal-assets-${VERSION}`;
const PAGES = 'alamal-pages';
const ASSET_URLS = [
  '/static/app.css',
  '/static/offline.js',
  '/static/icon.svg',
  '/static/icon-192.png',
  '/static/manifest.webmanifest',
  '/offline',
];
const FAMILY = /^\/families\/([0-9a-f-]{36})$/;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(ASSETS).then((cache) => cache.addAll(ASSET_URLS)).then(() => self.skipWaiting())
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith('alamal-assets-') && name !== ASSETS)
            .map((name) => caches.delete(name))
        )
      )
      .then(() => self.clients.claim())
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) {
    return; // posts and other origins go to the network untouched
  }
  if (url.pathname.startsWith('/static/') || url.pathname === '/offline') {
    event.respondWith(assetFirst(request));
    return;
  }
  event.respondWith(networkFirst(request, url));
});

async function assetFirst(request) {
  const cached = await caches.match(request, { cacheName: ASSETS, ignoreSearch: true });
  return cached || fetch(request);
}

async function networkFirst(request, url) {
  try {
    const response = await fetch(request);
    if (response.ok && response.headers.get('X-Offline') === 'keep') {
      await keep(url, response.clone());
    }
    return response;
  } catch (error) {
    const kept = (await fresh(url.pathname)) || (await familySummary(url.pathname));
    if (kept) {
      return kept;
    }
    if (request.mode === 'navigate') {
      const notice = await caches.match('/offline', { cacheName: ASSETS });
      if (notice) {
        return notice;
      }
    }
    throw error;
  }
}

async function keep(url, response) {
  const headers = new Headers(response.headers);
  headers.set('X-Kept-At', String(Date.now()));
  const body = await response.blob();
  const cache = await caches.open(PAGES);
  await cache.put(url.pathname, new Response(body, { status: 200, headers }));
}

async function fresh(pathname) {
  const cache = await caches.open(PAGES);
  const kept = await cache.match(pathname);
  if (!kept) {
    return null;
  }
  const at = Number(kept.headers.get('X-Kept-At') || 0);
  if (Date.now() - at > MAX_AGE) {
    await cache.delete(pathname); // older than any session could be: gone
    return null;
  }
  return kept;
}

function familySummary(pathname) {
  const match = FAMILY.exec(pathname);
  return match ? fresh(`/families/${match[1]}/summary`) : null;
}
