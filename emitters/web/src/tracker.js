/**
 * Browser tracker for the clickstream event contract: it sends events to the HTTP collector
 * (`POST /v1/events`) in the contract's plain JSON shape, batched by size and time, from a
 * bounded queue kept in `localStorage` (so a reload loses nothing), retrying network errors,
 * 429 and 5xx with capped exponential backoff and full jitter (added on top of a Retry-After), and
 * sending what is left with `navigator.sendBeacon` when the page is hidden or unloaded.
 * No runtime dependencies. docs/web-tracker.md describes the behaviour.
 *
 * @module
 */
import { CONSENT, MAX_EVENT_BYTES, MAX_EVENTS, MAX_REQUEST_BYTES, PAYLOADS, SCHEMA_VERSION } from "./contract.js";

export { SCHEMA_VERSION };

// The collector's limits (per event, per request body, events per request) come from
// collector/config.py through the generated contract module; a bigger event is refused at the call.
/** Browsers allow about 64 KiB of pending beacon data per page; keep each beacon under it. */
const BEACON_BYTES = 60000;

/**
 * @typedef {object} TrackerOptions
 * @property {string} endpoint URL of the collector's `POST /v1/events`.
 * @property {string} writeKey The application's public write key (header `X-Write-Key`; query for beacons).
 * @property {string} [appVersion="unknown"] `client.app_version`.
 * @property {string} [userId] Pseudonymous user id; defaults to the device id (an anonymous viewer).
 * @property {string} [deviceId] Defaults to a UUID made once and kept in storage.
 * @property {boolean} [requireConsent=false] Store nothing but the consent answer and send nothing until
 *   `setConsent` grants analytics (ePrivacy Art. 5(3)); EU sites set it true. Calls meanwhile are dropped.
 * @property {string} [locale] `client.locale`; defaults to `navigator.language`.
 * @property {number} [batchSize=20] Send as soon as this many events are queued (capped by the collector's limit, 500).
 * @property {number} [maxBatchBytes=60000] Upper bound of one request body, in bytes (capped by the collector's limit, 512 KiB).
 * @property {number} [flushIntervalMs=5000] Send a partial batch this long after its first event.
 * @property {number} [maxQueue=1000] Queue bound; when full the oldest event is dropped (counted).
 * @property {number} [baseDelayMs=1000] Backoff base: retry n waits random() * min(max, base * 2^(n-1)).
 * @property {number} [maxDelayMs=60000] Backoff cap.
 * @property {string} [storageKey="clickstream"] Prefix of the storage keys (`:queue`, `:device`, `:consent`).
 * @property {(reason: "overflow" | "refused", count: number) => void} [onDrop] Called when events are dropped.
 * @property {typeof fetch} [fetch] Injection points for tests and unusual hosts; default to the page's globals:
 * @property {Storage | null} [storage] `localStorage` (null: memory only).
 * @property {{sendBeacon?: Function, onLine?: boolean, language?: string}} [navigator]
 * @property {EventTarget} [window] Where `pagehide` and `online` are listened for.
 * @property {EventTarget & {visibilityState?: string}} [document] Where `visibilitychange` is listened for.
 * @property {() => number} [now] Client clock, ms since the epoch.
 * @property {() => number} [random] Jitter source in [0, 1).
 * @property {typeof setTimeout} [setTimeout]
 * @property {typeof clearTimeout} [clearTimeout]
 * @property {() => string} [randomUUID] event_id and device id source.
 */

/**
 * @typedef {object} TrackerStats
 * @property {number} queued Events waiting (in memory and storage).
 * @property {number} sent Events the collector accepted.
 * @property {number} rejected Events the collector answered as rejected (it dead-letters them).
 * @property {number} refused Events dropped because the collector answered 4xx (not 429).
 * @property {number} overflow Events dropped because the queue was full.
 * @property {number} retries Failed attempts that were retried.
 * @property {number} droppedNoConsent Calls dropped under `requireConsent` without analytics consent.
 */

/**
 * @typedef {object} Tracker
 * @property {(fields: {video_id: string, position_ms: number, video_duration_ms?: number,
 *   playback_rate?: number}) => string} videoPaused Queue a VideoPaused event; returns its event_id.
 * @property {(fields: {video_id: string, impression_id: string, surface: string, slot: number, rank: number,
 *   recommendation_request_id?: string, thumbnail_variant?: string}) => string} thumbnailClicked
 *   Queue a ThumbnailClicked event; returns its event_id.
 * @property {(row: {requestId: string, surface: string, items: Array<{videoId: string, slot: number, rank: number,
 *   row?: number, col?: number, visibleMs?: number, impressionId?: string}>, modelVersion?: string,
 *   experimentIds?: string[], exploration?: {method: string, swappedRank: number, propensity: number}}) =>
 *   {eventId: string | null, impressionIds: string[]}} shown Queue a ThumbnailsShown (contract 1.3) for a rendered
 *   row: one per row, one item per thumbnail. Each item gets an impression id (a UUID, unless it has its own);
 *   they come back in item order, for the click on that thumbnail (`thumbnailClicked({impression_id,
 *   recommendation_request_id: requestId, ...})`). `eventId` is null when `requireConsent` dropped the row.
 * @property {(eventType: string, fields: object) => string | null} track Queue any event type of the
 *   contract; null when `requireConsent` dropped it.
 * @property {(consent: {analytics: boolean, personalization: boolean, policyVersion?: string} | null) => void}
 *   setConsent What the person answered to the consent banner: stamped on every event queued from now on,
 *   and kept in storage for the next page (null forgets it). Events queued before carry none. Under
 *   `requireConsent`, an answer without analytics (or null) also clears the stored queue and device id.
 * @property {() => Promise<boolean>} flush Send everything now; true when the queue is empty afterwards
 *   (false while a Retry-After or backoff wait is running, or when a send failed).
 * @property {() => void} stop Stop timers and listeners; the queue stays in storage for the next tracker.
 * @property {() => TrackerStats} stats Counters since this tracker was created.
 */

/**
 * Create a tracker. Throws a TypeError without `endpoint` or `writeKey`.
 *
 * @param {TrackerOptions} options
 * @returns {Tracker}
 */
export function createTracker(options) {
  const o = options || {};
  const g = globalThis;
  const opt = (name, fallback) => (o[name] === undefined ? fallback : o[name]);
  if (!o.endpoint || !o.writeKey) throw new TypeError("createTracker: endpoint and writeKey are required");

  const endpoint = o.endpoint;
  const writeKey = o.writeKey;
  const doFetch = opt("fetch", g.fetch && g.fetch.bind(g));
  const nav = opt("navigator", g.navigator) || {};
  const win = opt("window", g.window);
  const doc = opt("document", g.document);
  const now = opt("now", Date.now);
  const random = opt("random", Math.random);
  const later = opt("setTimeout", g.setTimeout && g.setTimeout.bind(g));
  const cancel = opt("clearTimeout", g.clearTimeout && g.clearTimeout.bind(g));
  const uuid = opt("randomUUID", () => g.crypto.randomUUID());
  const batchSize = Math.min(opt("batchSize", 20), MAX_EVENTS);
  const maxBatchBytes = Math.min(opt("maxBatchBytes", BEACON_BYTES), MAX_REQUEST_BYTES);
  const flushIntervalMs = opt("flushIntervalMs", 5000);
  const maxQueue = opt("maxQueue", 1000);
  const baseDelayMs = opt("baseDelayMs", 1000);
  const maxDelayMs = opt("maxDelayMs", 60000);
  const onDrop = opt("onDrop", () => {});
  const prefix = opt("storageKey", "clickstream");
  let storage = opt("storage", undefined);
  if (storage === undefined) {
    try {
      storage = g.localStorage; // reading it throws where storage is disabled
    } catch {
      storage = null;
    }
  }

  const encoder = new TextEncoder();
  const bytes = (text) => encoder.encode(text).length;
  const read = (key) => {
    try {
      return storage && storage.getItem(prefix + key);
    } catch {
      return null;
    }
  };
  // Under requireConsent nothing but the answer itself (the strictly necessary record of the choice)
  // is written until analytics is granted: this one check guards the device id and the queue.
  const requireConsent = opt("requireConsent", false);
  const allowed = () => !requireConsent || !!(consent && consent.analytics);
  const write = (key, value) => {
    try {
      if (storage && (key === ":consent" || allowed())) storage.setItem(prefix + key, value);
    } catch {
      // Full or refused (quota, private mode): the queue still works in memory for this page.
    }
  };

  const counts = { sent: 0, rejected: 0, refused: 0, overflow: 0, retries: 0, droppedNoConsent: 0 };
  const drop = (reason, n) => {
    counts[reason] += n;
    onDrop(reason, n);
  };

  let deviceId = null; // made (and stored) only once tracking is allowed: see begin()
  const client = { platform: "web", app_version: opt("appVersion", "unknown") };
  const locale = opt("locale", nav.language);
  if (locale) client.locale = locale;

  const check = (type, name, value, code) => {
    const where = `${type}: ${name}`;
    if (code === "s") {
      if (typeof value !== "string") throw new TypeError(`${where} must be a string`);
      return value;
    }
    if (code === "b") {
      if (typeof value !== "boolean") throw new TypeError(`${where} must be a boolean`);
      return value;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError(`${where} must be a number`);
    if (code === "i" && !Number.isInteger(value)) throw new TypeError(`${where} must be an integer`);
    return code === "l" ? Math.round(value) : value; // long fields are whole milliseconds
  };

  // `value` checked against a field spec of the generated contract (a code, [items] or a record's
  // {field: spec}) and copied without the optional fields left out; TypeError naming the path.
  const optional = (spec) => (typeof spec === "string" ? spec.endsWith("?") : spec[1] === "?" || !!spec["?"]);
  const conform = (type, path, value, spec) => {
    if (typeof spec === "string") return check(type, path, value, spec[0]);
    if (Array.isArray(spec)) {
      if (!Array.isArray(value)) throw new TypeError(`${type}: ${path} must be an array`);
      return value.map((v, i) => conform(type, `${path}[${i}]`, v, spec[0]));
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError(`${type}: ${path || "payload"} must be an object`);
    }
    for (const name in value) {
      if (!(name in spec) || name === "?") throw new TypeError(`${type}: ${path ? `${path}: ` : ""}unknown field ${name}`);
    }
    const record = {};
    for (const name in spec) {
      const at = path ? `${path}.${name}` : name;
      if (name === "?") continue;
      if (value[name] == null) {
        if (optional(spec[name])) continue;
        throw new TypeError(`${type}: ${at} is required`);
      }
      record[name] = conform(type, at, value[name], spec[name]);
    }
    return record;
  };

  // The contract's consent record from setConsent's camelCase argument; TypeError when it does not fit.
  const consentRecord = (given) => {
    if (given == null) return null;
    if (typeof given !== "object") throw new TypeError("consent: must be an object or null");
    const names = {};
    for (const name in CONSENT) names[name.replace(/_(.)/g, (_, c) => c.toUpperCase())] = name;
    for (const key in given) if (!(key in names)) throw new TypeError(`consent: unknown field ${key}`);
    const record = {};
    for (const key in names) {
      const name = names[key];
      const value = given[key];
      if (value == null && !CONSENT[name].endsWith("?")) throw new TypeError(`consent: ${key} is required`);
      record[name] = value == null ? null : check("consent", key, value, CONSENT[name][0]);
    }
    return record;
  };
  let consent = null;
  try {
    consent = consentRecord(JSON.parse(read(":consent") || "null"));
  } catch {
    // Unreadable or stale stored consent: none, as before the banner was answered.
  }

  /** @type {object[]} events without sent_at, oldest first */
  let queue = [];
  // Tracking allowed: the device id is made once and kept. Otherwise (requireConsent without analytics)
  // what an earlier page stored is removed, and nothing is queued or sent.
  const begin = () => {
    if (allowed()) {
      deviceId = o.deviceId || deviceId || read(":device");
      if (!deviceId) write(":device", (deviceId = uuid()));
      return;
    }
    queue = [];
    deviceId = null;
    try {
      if (storage) for (const key of [":queue", ":device"]) storage.removeItem(prefix + key);
    } catch {
      // Storage refused: nothing of ours can be in it either.
    }
  };
  begin();
  if (allowed()) {
    try {
      const stored = JSON.parse(read(":queue") || "[]");
      if (Array.isArray(stored)) queue = stored.filter((e) => e && typeof e.event_id === "string");
    } catch {
      // Unreadable stored data (another version, a manual edit): start empty rather than fail the page.
    }
  }
  const persist = () => write(":queue", JSON.stringify(queue));
  const bound = () => {
    const over = queue.length - maxQueue;
    if (over > 0) {
      queue.splice(0, over);
      drop("overflow", over);
    }
  };
  bound();

  let timer = null;
  let inflight = null;
  let flying = []; // the events of the request in flight
  let beaconed = new Set(); // events a beacon carried in this hide episode
  let attempt = 0;
  let retryAt = 0;
  let pause = 0; // the wait chosen at the last failure: retryAt is never further than this from now()
  let stopped = false;

  const schedule = (ms) => {
    if (timer) cancel(timer);
    timer = later(() => {
      timer = null;
      send();
    }, ms);
  };

  const remove = (batch) => {
    const gone = new Set(batch);
    queue = queue.filter((e) => !gone.has(e));
    persist();
  };

  /** The oldest events that fit `limit` bytes and `count` events (at least one). */
  const take = (from, limit, count) => {
    const batch = [];
    let size = 12; // {"events":[]}
    for (const e of from) {
      const s = bytes(JSON.stringify(e)) + 30; // ,"sent_at":<13 digits>
      if (batch.length && (batch.length >= count || size + s > limit)) break;
      batch.push(e);
      size += s;
    }
    return batch;
  };

  /** The request body; sent_at is stamped now, at each attempt. */
  const body = (batch) => {
    const sentAt = now();
    return JSON.stringify({ events: batch.map((e) => ({ ...e, sent_at: sentAt })) });
  };

  const retryAfter = (header) => {
    if (!header) return 0;
    const seconds = Number(header);
    return Number.isNaN(seconds) ? Date.parse(header) - now() || 0 : seconds * 1000;
  };

  const fail = (waitMs) => {
    attempt++;
    counts.retries++;
    const backoff = Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
    // Retry-After is a floor, not an instant: every page told "5" would otherwise come back in the
    // same millisecond. The jitter on top is the backoff this attempt would have waited anyway.
    const delay = Math.max(0, waitMs) + backoff;
    pause = delay;
    retryAt = now() + delay;
    schedule(delay);
    return false;
  };

  /** One request: true when its events are settled (accepted, rejected or refused), false to retry. */
  const post = async (batch) => {
    let res;
    try {
      res = await doFetch(endpoint, {
        method: "POST",
        keepalive: true, // lets the request finish if the page unloads meanwhile
        headers: { "Content-Type": "application/json", "X-Write-Key": writeKey },
        body: body(batch),
      });
    } catch {
      return fail(0); // network error, offline, CORS refusal
    }
    const status = res.status;
    if (status === 429 || status >= 500) return fail(retryAfter(res.headers.get("Retry-After")));
    attempt = 0;
    retryAt = 0;
    remove(batch);
    if (status >= 300) {
      drop("refused", batch.length); // 4xx: this batch would be refused again; retrying cannot help
      return true;
    }
    let rejected = 0;
    try {
      rejected = ((await res.json()).rejected || []).length;
    } catch {
      // A 2xx without the JSON answer still means the events were taken.
    }
    counts.rejected += rejected;
    counts.sent += batch.length - rejected;
    return true;
  };

  const after = () => {
    if (stopped || !queue.length) return;
    if (queue.length >= batchSize || now() < retryAt) send(); // send() waits out retryAt with a timer
    else if (!timer) schedule(flushIntervalMs);
  };

  /** Send the next batch unless one is in flight or a retry wait is running. */
  const send = () => {
    if (inflight) return inflight;
    if (stopped || !queue.length) return Promise.resolve(!queue.length);
    // Still waiting: a timer that fired early by the wall clock, or a clock stepped backwards, must
    // leave a timer behind, or nothing drains the queue until the next event or `online`. A clock
    // stepped back does not stretch the wait beyond the one chosen.
    const wait = Math.min(retryAt - now(), pause);
    if (wait > 0) {
      retryAt = now() + wait;
      if (!timer) schedule(wait);
      return Promise.resolve(false);
    }
    if (timer) cancel(timer);
    timer = null;
    flying = take(queue, maxBatchBytes, batchSize);
    inflight = post(flying).then((settled) => {
      inflight = null;
      flying = [];
      after();
      return settled;
    });
    return inflight;
  };

  /**
   * The last chance on hide/unload: beacons need no response and survive the page. Each event goes
   * in at most one beacon per hide episode (visibilitychange and pagehide both fire on a close), and
   * none of the request in flight: its fetch is `keepalive`, so it finishes after the page is gone,
   * and its events stay stored until it succeeds (docs/web-tracker.md: what a closed tab can lose).
   */
  const beacon = () => {
    if (stopped || !nav.sendBeacon || nav.onLine === false) return;
    // While the collector is failing, a beacon may be lost unseen: keep those events queued for the
    // next page (the same event_id twice is deduplicated downstream).
    const keep = now() < retryAt;
    const url = `${endpoint}${endpoint.includes("?") ? "&" : "?"}write_key=${encodeURIComponent(writeKey)}`;
    let rest = queue.filter((e) => !beaconed.has(e) && !flying.includes(e));
    while (rest.length) {
      const batch = take(rest, BEACON_BYTES, MAX_EVENTS);
      // A string body goes as text/plain: no CORS preflight, which an unloading page could not wait for.
      if (!nav.sendBeacon(url, body(batch))) break;
      for (const e of batch) beaconed.add(e);
      if (!keep) remove(batch);
      rest = rest.slice(batch.length);
    }
  };

  // Visible again: the hide episode is over, and the next one may beacon what is still queued.
  const onHidden = () => (doc.visibilityState === "hidden" ? beacon() : (beaconed = new Set()));
  const onOnline = () => {
    retryAt = 0;
    attempt = 0;
    send();
  };
  const listen = (on) => {
    const method = on ? "addEventListener" : "removeEventListener";
    if (win) {
      win[method]("pagehide", beacon);
      win[method]("online", onOnline);
    }
    if (doc) doc[method]("visibilitychange", onHidden);
  };
  listen(true);
  after();

  /** @type {Tracker["track"]} */
  const track = (type, fields) => {
    const spec = PAYLOADS[type];
    if (!spec) throw new TypeError(`unknown event type ${type}`);
    const payload = conform(type, "", fields || {}, spec);
    if (!allowed()) {
      counts.droppedNoConsent++;
      return null;
    }
    const event = {
      event_id: uuid(),
      event_type: type,
      schema_version: SCHEMA_VERSION,
      event_ts: now(),
      user_id: o.userId || deviceId,
      device_id: deviceId,
      client,
      payload,
    };
    if (consent) event.consent = consent;
    if (bytes(JSON.stringify(event)) > MAX_EVENT_BYTES - 30) {
      throw new RangeError(`${type}: event over the collector's ${MAX_EVENT_BYTES}-byte limit`);
    }
    queue.push(event);
    bound();
    persist();
    after();
    return event.event_id;
  };

  return {
    track,
    videoPaused: (fields) => track("VideoPaused", fields),
    thumbnailClicked: (fields) => track("ThumbnailClicked", fields),
    shown(row) {
      // camelCase in, the contract's names out (videoId -> video_id); each thumbnail gets an
      // impression id unless the page has its own, and the page hands it on to thumbnailClicked.
      const snake = (v) =>
        Array.isArray(v)
          ? v.map(snake)
          : v && typeof v === "object"
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(x)]))
            : v;
      const fields = snake(row);
      const items = Array.isArray(fields && fields.items) ? fields.items : [];
      for (const item of items) if (item && typeof item === "object" && item.impression_id == null) item.impression_id = uuid();
      return { eventId: track("ThumbnailsShown", fields), impressionIds: items.map((item) => item && item.impression_id) };
    },
    setConsent(given) {
      consent = consentRecord(given);
      write(":consent", JSON.stringify(given == null ? null : given));
      begin();
      after();
    },
    async flush() {
      while (queue.length) if (!(await send())) return false;
      return true;
    },
    stop() {
      stopped = true;
      if (timer) cancel(timer);
      timer = null;
      listen(false);
    },
    stats: () => ({ queued: queue.length, ...counts }),
  };
}
