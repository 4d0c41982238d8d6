/* Al Amal offline layer: visits saved without a connection, sent once it returns.
 *
 * An enhancement only: without this script (or without service workers, IndexedDB or
 * WebCrypto) every form posts to the server as before.
 *
 * - The page's #offline region names the queue's owner (a tag of the trusted person, empty for
 *   everyone else and on the login page) and the session's key id.
 * - A visit saved from the form goes into IndexedDB ('alamal-offline', store 'queue') with a
 *   key made on this device (the idempotency key cases applies once). The private part (note
 *   and strength) is sealed with AES-GCM under the session's key: a WebCrypto key imported as
 *   non-extractable and for encryption only, kept in the 'keys' store. Nothing on the device
 *   can read a sealed note back; only the gateway opens it, for the same user.
 * - The queue is sent on every page load and when the connection returns. The answer decides:
 *   sent (gone from the device), held (the case was closed or reassigned: said plainly, the
 *   coordinator decides), invalid (shown with the field's words, kept to correct), or kept
 *   (offline, server unavailable, session gone).
 * - Logging out wipes this user's queue, key and every cache (asking first when visits have
 *   not been sent); the login page wipes the kept pages and keys, and keeps other people's
 *   sealed visits until their owner logs in again (or someone deletes them, after asking).
 */
(() => {
  'use strict';

  const root = document.getElementById('offline');
  const textNode = document.getElementById('offline-text');
  const supported =
    root &&
    textNode &&
    'serviceWorker' in navigator &&
    'indexedDB' in window &&
    'caches' in window &&
    window.crypto &&
    window.crypto.subtle &&
    window.isSecureContext;
  if (!supported) {
    return;
  }
  const text = JSON.parse(textNode.textContent);
  const owner = root.dataset.owner || '';
  const lang = document.documentElement.lang || 'nl';
  const line = root.querySelector('.offline-line');
  const list = root.querySelector('.offline-list');
  const PAGES = 'alamal-pages';
  const REFRESH = 10 * 60 * 1000;
  const DB = 'alamal-offline';
  const encoder = new TextEncoder();

  // --- IndexedDB ---------------------------------------------------------------------------

  const done = (request) =>
    new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });

  let opened = null;

  function database() {
    if (!opened) {
      opened = new Promise((resolve, reject) => {
        const opening = indexedDB.open(DB, 1);
        opening.onupgradeneeded = () => {
          const db = opening.result;
          db.createObjectStore('queue', { keyPath: 'key' }).createIndex('owner', 'owner');
          db.createObjectStore('keys', { keyPath: 'owner' });
        };
        opening.onsuccess = () => resolve(opening.result);
        opening.onerror = () => reject(opening.error);
      });
    }
    return opened;
  }

  async function deleteDatabase() {
    if (opened) {
      (await opened).close();
      opened = null;
    }
    await done(indexedDB.deleteDatabase(DB));
  }

  async function databaseExists() {
    if (!indexedDB.databases) {
      return true; // cannot tell without opening: assume it may
    }
    return (await indexedDB.databases()).some((d) => d.name === DB);
  }

  async function store(name, mode) {
    const db = await database();
    return db.transaction(name, mode).objectStore(name);
  }

  async function mine() {
    const items = await done((await store('queue', 'readonly')).index('owner').getAll(owner));
    return items.sort((a, b) => a.savedAt.localeCompare(b.savedAt));
  }

  async function everyone() {
    return done((await store('queue', 'readonly')).getAll());
  }

  const put = async (item) => done((await store('queue', 'readwrite')).put(item));
  const drop = async (key) => done((await store('queue', 'readwrite')).delete(key));

  // --- The session's key -------------------------------------------------------------------

  const b64 = (bytes) =>
    btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');

  function unb64(textValue) {
    const plain = atob(textValue.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(plain, (c) => c.charCodeAt(0));
  }

  async function sessionKey() {
    const found = await done((await store('keys', 'readonly')).get(owner));
    if (found && found.keyId === root.dataset.keyId) {
      return found;
    }
    const answer = await fetch('/offline/key', { credentials: 'same-origin' });
    if (!answer.ok) {
      throw new Error('no key for this session');
    }
    const data = await answer.json();
    const raw = unb64(data.key);
    const key = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, [
      'encrypt',
    ]);
    raw.fill(0);
    const record = { owner, keyId: data.key_id, key };
    await done((await store('keys', 'readwrite')).put(record));
    return record;
  }

  async function seal(record, item, secret) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt(
      {
        name: 'AES-GCM',
        iv,
        additionalData: encoder.encode(`alamal-visit|${item.key}|${item.caseId}`),
      },
      record.key,
      encoder.encode(JSON.stringify(secret))
    );
    return { iv: b64(iv), data: b64(new Uint8Array(sealed)) };
  }

  // --- Wiping ------------------------------------------------------------------------------

  async function forgetPages() {
    await caches.delete(PAGES);
    if (await databaseExists()) {
      await done((await store('keys', 'readwrite')).clear());
    }
  }

  async function wipeMine() {
    for (const item of await mine()) {
      await drop(item.key);
    }
    for (const name of await caches.keys()) {
      await caches.delete(name);
    }
    await done((await store('keys', 'readwrite')).clear());
    if ((await everyone()).length === 0) {
      await deleteDatabase();
    }
  }

  // --- Sending -----------------------------------------------------------------------------

  function csrf() {
    return root.dataset.csrf || '';
  }

  async function send(item) {
    let answer;
    try {
      answer = await fetch('/offline/visits', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
        body: JSON.stringify({
          idempotency_key: item.key,
          case_id: item.caseId,
          key_id: item.keyId,
          captured_at: item.savedAt,
          fields: item.fields,
          sealed: item.sealed,
        }),
      });
    } catch (error) {
      return { state: 'offline' };
    }
    if (answer.status === 401) {
      return { state: 'login' };
    }
    try {
      const data = await answer.json();
      return data && data.state ? data : { state: 'unavailable' };
    } catch (error) {
      return { state: 'unavailable' };
    }
  }

  const KEEP_TRYING = new Set(['offline', 'login', 'unavailable']);

  async function settle(item, result) {
    if (result.state === 'sent') {
      await drop(item.key);
    } else if (result.state === 'held') {
      // Cases keeps it now; the device keeps only the words (no fields, no seal).
      await put({
        key: item.key,
        owner,
        savedAt: item.savedAt,
        label: item.label,
        state: 'held',
        message: result.message,
      });
    } else if (!KEEP_TRYING.has(result.state)) {
      item.state = result.state === 'invalid' ? 'invalid' : 'stuck';
      item.errors = result.errors || null;
      item.message = result.message || text.invalid;
      await put(item);
    }
  }

  let flushing = null;

  function flush() {
    if (!flushing) {
      const work = () => flushOnce();
      const running = navigator.locks ? navigator.locks.request('alamal-offline-send', work) : work();
      flushing = running.finally(() => {
        flushing = null;
      });
    }
    return flushing;
  }

  async function flushOnce() {
    const waiting = (await mine()).filter((item) => item.state === 'waiting');
    let stopped = null;
    let sent = 0;
    for (const item of waiting) {
      if (!navigator.onLine) {
        stopped = 'offline';
        break;
      }
      const result = await send(item);
      if (KEEP_TRYING.has(result.state)) {
        stopped = result.state;
        break;
      }
      await settle(item, result);
      sent += result.state === 'sent' ? 1 : 0;
    }
    await render(stopped || (sent ? 'sent' : null));
    retryLater(stopped);
  }

  // The 'online' event may come before the network carries anything, and a server may be
  // briefly unavailable: try again a little later, then less and less often.
  let retryDelay = 1000;
  let retryTimer = null;

  function retryLater(stopped) {
    clearTimeout(retryTimer);
    if ((stopped === 'offline' || stopped === 'unavailable') && navigator.onLine) {
      retryTimer = setTimeout(() => flush(), retryDelay);
      retryDelay = Math.min(retryDelay * 2, 60000);
    } else {
      retryDelay = 1000;
    }
  }

  // --- Showing -----------------------------------------------------------------------------

  function counted(n) {
    const forms = text.waiting;
    const category = new Intl.PluralRules(lang).select(n);
    return (forms[category] || forms.other).replace('{n}', n.toLocaleString(lang));
  }

  function button(label, action) {
    const element = document.createElement('button');
    element.type = 'button';
    element.className = 'small';
    element.textContent = label;
    element.addEventListener('click', action);
    return element;
  }

  function entry(item) {
    const li = document.createElement('li');
    const title = document.createElement('strong');
    title.textContent = item.label;
    li.append(title);
    const say = (words, className) => {
      const p = document.createElement('p');
      p.className = className;
      p.textContent = words;
      li.append(p);
    };
    if (item.state === 'held') {
      say(item.message, 'notice');
      const link = document.createElement('a');
      link.className = 'button small';
      link.href = '/visits/held';
      link.textContent = text.held_link;
      li.append(link, ' ');
      li.append(button(text.dismiss, async () => drop(item.key).then(() => render(null))));
      return li;
    }
    say(item.message || text.invalid, 'error');
    for (const words of Object.values(item.errors || {})) {
      say(words, 'error');
    }
    if (item.state === 'invalid') {
      const link = document.createElement('a');
      link.className = 'button small';
      link.href = `/cases/${item.caseId}/visits/new?queued=${encodeURIComponent(item.key)}`;
      link.textContent = text.correct;
      li.append(link, ' ');
    }
    li.append(
      button(text.remove, async () => {
        if (window.confirm(text.remove_confirm)) {
          await drop(item.key);
          await render(null);
        }
      })
    );
    return li;
  }

  async function render(news) {
    const items = await mine();
    const waiting = items.filter((item) => item.state === 'waiting').length;
    const attention = items.filter((item) => item.state !== 'waiting');
    const parts = [];
    if (!navigator.onLine || news === 'offline') {
      parts.push(text.offline);
    }
    if (waiting) {
      parts.push(counted(waiting));
    }
    if (news === 'login' && waiting) {
      parts.push(text.login);
    }
    if (news === 'sent' && !waiting) {
      parts.push(text.sent);
    }
    if (new URLSearchParams(location.search).get('notice') === 'visit-queued' && waiting) {
      parts.unshift(text.queued);
    }
    line.textContent = parts.join(' ');
    root.dataset.waiting = String(waiting);
    list.replaceChildren(...attention.map(entry));
    root.hidden = parts.length === 0 && attention.length === 0;
  }

  // --- The visit form ----------------------------------------------------------------------

  function localToday() {
    const now = new Date();
    const shifted = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 10);
  }

  function formError(form, words, errors) {
    const box = form.querySelector('[data-offline-error]');
    box.textContent = [words, ...Object.values(errors || {})].filter(Boolean).join(' ');
    box.hidden = !box.textContent;
    for (const name of Object.keys(errors || {})) {
      const field = form.elements.namedItem(name);
      if (field && field.setAttribute) {
        field.setAttribute('aria-invalid', 'true');
      }
    }
    box.scrollIntoView({ block: 'center' });
  }

  function kindLabel(form, kind) {
    const input = form.querySelector(`input[name="kind"][value="${CSS.escape(kind)}"]`);
    return input && input.parentElement ? input.parentElement.textContent.trim() : kind;
  }

  async function capture(form, correcting) {
    const data = new FormData(form);
    const record = await sessionKey();
    const fields = {
      kind: String(data.get('kind') || ''),
      occurred_on: String(data.get('occurred_on') || ''),
      duration_minutes: String(data.get('duration_minutes') || ''),
      topic_codes: data.getAll('topic_codes').map(String),
      follow_up: String(data.get('follow_up') || ''),
    };
    const date = new Date(`${fields.occurred_on}T12:00:00`);
    const when = Number.isNaN(date.getTime())
      ? fields.occurred_on
      : new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(date);
    const item = {
      key: correcting ? correcting.key : String(data.get('idempotency_key')),
      owner,
      keyId: record.keyId,
      caseId: form.dataset.caseId,
      savedAt: correcting ? correcting.savedAt : new Date().toISOString(),
      label: `${kindLabel(form, fields.kind)} · ${when}`,
      fields,
      state: 'waiting',
      errors: null,
      message: null,
    };
    const strength = String(data.get('strength') || '');
    const note = String(data.get('private_note') || '');
    if (correcting && correcting.sealed && !strength && !note) {
      // Bound to the same visit key and case, opened by the gateway for the same user: the
      // note written before stays as it was (the device cannot read it to show it).
      item.keyId = correcting.keyId;
      item.sealed = correcting.sealed;
    } else {
      item.sealed = await seal(record, item, { strength, private_note: note });
    }
    await put(item);
    return item;
  }

  async function prefill(form, key) {
    const found = (await mine()).find((item) => item.key === key && item.fields);
    if (!found) {
      return null;
    }
    for (const [name, value] of Object.entries(found.fields)) {
      if (name === 'topic_codes') {
        for (const box of form.querySelectorAll('input[name="topic_codes"]')) {
          box.checked = value.includes(box.value);
        }
      } else if (form.elements.namedItem(name)) {
        form.elements.namedItem(name).value = value; // an input, a select or a radio group
      }
    }
    formError(form, text.kept_note, found.errors);
    return found;
  }

  async function enhanceVisitForm(form) {
    const params = new URLSearchParams(location.search);
    const correcting = params.get('queued') ? await prefill(form, params.get('queued')) : null;
    if (!correcting && form.hasAttribute('data-fresh')) {
      // A kept form may be days old: today on this device, and a fresh key per visit.
      form.elements.namedItem('occurred_on').value = localToday();
      form.elements.namedItem('idempotency_key').value = crypto.randomUUID();
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const submit = form.querySelector('button[type="submit"]');
      submit.disabled = true;
      let item;
      try {
        item = await capture(form, correcting);
      } catch (error) {
        submit.disabled = false;
        if (navigator.onLine) {
          HTMLFormElement.prototype.submit.call(form); // no key: post as without script
        } else {
          formError(form, text.no_key, null);
        }
        return;
      }
      const result = await send(item);
      if (result.state === 'sent') {
        await drop(item.key);
        location.assign(result.next);
      } else if (result.state === 'invalid') {
        await drop(item.key); // she is looking at the form: correct it here
        submit.disabled = false;
        formError(form, text.invalid, result.errors);
      } else if (result.state === 'held') {
        await settle(item, result);
        location.assign(result.next);
      } else if (KEEP_TRYING.has(result.state)) {
        location.assign('/caseload?notice=visit-queued');
      } else {
        await drop(item.key);
        submit.disabled = false;
        formError(form, result.message, null);
      }
    });
  }

  // --- Logging out, the login page, kept pages ----------------------------------------------

  function guardLogout(form) {
    form.addEventListener('submit', async (event) => {
      if (form.dataset.wiped) {
        return;
      }
      event.preventDefault();
      const unsent = (await mine()).filter((item) => item.state !== 'held');
      if (unsent.length && !window.confirm(text.logout_confirm)) {
        return;
      }
      try {
        await wipeMine();
      } finally {
        form.dataset.wiped = '1'; // log out whatever happened here; the login page wipes too
        HTMLFormElement.prototype.submit.call(form);
      }
    });
  }

  async function loginPage() {
    await forgetPages();
    if (!(await databaseExists())) {
      return;
    }
    const others = await everyone();
    if (!others.length) {
      return;
    }
    line.textContent = text.others;
    const li = document.createElement('li');
    li.append(
      button(text.delete_others, async () => {
        if (window.confirm(text.delete_others_confirm)) {
          await deleteDatabase();
          root.hidden = true;
        }
      })
    );
    list.replaceChildren(li);
    root.hidden = false;
  }

  async function keepPages() {
    const node = document.getElementById('offline-keep');
    if (!node) {
      return; // only the caseload says what to keep
    }
    const urls = JSON.parse(node.textContent);
    const cache = await caches.open(PAGES);
    for (const url of urls) {
      const old = await cache.match(url);
      if (old && Date.now() - Number(old.headers.get('X-Kept-At') || 0) < REFRESH) {
        continue; // kept a few minutes ago: no need to ask the server again
      }
      let response;
      try {
        response = await fetch(url, { credentials: 'same-origin' });
      } catch (error) {
        root.dataset.kept = 'offline';
        return; // offline: the pages kept earlier stay as they are
      }
      // Kept here too, in case the service worker does not control this page yet.
      if (response.ok && response.headers.get('X-Offline') === 'keep') {
        const headers = new Headers(response.headers);
        headers.set('X-Kept-At', String(Date.now()));
        await cache.put(url, new Response(await response.blob(), { status: 200, headers }));
      }
    }
    // A family no longer on her caseload (reassigned, closed) leaves the device too.
    const wanted = new Set(urls);
    for (const request of await cache.keys()) {
      if (!wanted.has(new URL(request.url).pathname)) {
        await cache.delete(request);
      }
    }
    root.dataset.kept = String(urls.length);
  }

  async function start() {
    if (!owner) {
      if (location.pathname === '/login') {
        await loginPage();
      }
      root.dataset.state = 'ready';
      return;
    }
    try {
      await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    } catch (error) {
      // Offline before the first registration: the pages were never kept; the queue works.
    }
    for (const form of document.querySelectorAll('form[action="/logout"]')) {
      guardLogout(form);
    }
    let keyReady = true;
    if (navigator.onLine) {
      try {
        await sessionKey();
      } catch (error) {
        keyReady = false;
      }
    }
    for (const form of document.querySelectorAll('form[data-offline-visit]')) {
      if (keyReady) {
        await enhanceVisitForm(form);
      }
    }
    window.addEventListener('online', () => {
      retryDelay = 1000;
      flush();
    });
    window.addEventListener('offline', () => render('offline'));
    await render(null);
    if (navigator.onLine) {
      await flush();
      await keepPages();
    }
    root.dataset.state = 'ready';
  }

  start().catch(() => {
    root.dataset.state = 'failed'; // the forms still post as without the script
  });
})();
