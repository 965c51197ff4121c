// Fakes of the browser globals the tracker reads, injected through its options: a clock with
// timers that only move when a test says so, a Storage, fetch with scripted answers, and a
// navigator with sendBeacon. Only these seams are fake; the tracker's own code runs as in a page.

/** A manual clock: `now()` and timers advance only through `advance(ms)`. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.timers = new Map();
    this.nextId = 1;
    this.now = () => this.t;
    this.setTimeout = (fn, ms = 0) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.t + Math.max(0, ms), fn, ms });
      return id;
    };
    this.clearTimeout = (id) => this.timers.delete(id);
  }

  /** Delays of the timers now pending, shortest first. */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.t).sort((a, b) => a - b);
  }

  /** Move time forward, firing due timers in order and letting their promises settle. */
  async advance(ms) {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Let pending promise callbacks (fetch answers, res.json()) run. */
export async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** localStorage's interface over a Map; `quota` (characters) makes setItem throw like a full store. */
export class FakeStorage {
  constructor(quota = Infinity) {
    this.map = new Map();
    this.quota = quota;
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    if (String(v).length > this.quota) throw new DOMException("quota exceeded", "QuotaExceededError");
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

/** A response as fetch resolves it. */
export function response(status, body = {}, headers = {}) {
  const h = new Headers(headers);
  return { status, ok: status >= 200 && status < 300, headers: h, json: async () => body };
}

/**
 * fetch with scripted answers: each call takes the next answer (a response, an Error to throw,
 * or a function of the request); with none left it answers 202 accepting the whole batch.
 */
export function fakeFetch(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    const call = { url, init, body: JSON.parse(init.body) };
    calls.push(call);
    let answer = answers.shift();
    if (typeof answer === "function") answer = answer(call);
    if (answer instanceof Error) throw answer;
    return answer ?? response(202, { accepted: call.body.events.length, rejected: [] });
  };
  fetch.calls = calls;
  fetch.events = () => calls.flatMap((c) => c.body.events);
  return fetch;
}

/** navigator with sendBeacon that records (url, body) and returns `accept`. */
export function fakeNavigator({ accept = true, onLine = true } = {}) {
  const beacons = [];
  return {
    onLine,
    beacons,
    sendBeacon(url, data) {
      beacons.push({ url, data });
      return accept;
    },
  };
}

/** Everything createTracker needs besides endpoint and key, all fake; override per test. */
export function fakes(overrides = {}) {
  const clock = overrides.clock ?? new FakeClock();
  const document = Object.assign(new EventTarget(), { visibilityState: "visible" });
  const env = {
    clock,
    storage: new FakeStorage(),
    fetch: fakeFetch(),
    navigator: fakeNavigator(),
    window: new EventTarget(),
    document,
    random: () => 0.5,
    ...overrides,
  };
  return env;
}

/** createTracker options wired to `env`'s fakes. */
export function options(env, extra = {}) {
  return {
    endpoint: "https://collector.test/v1/events",
    writeKey: "local-write-key",
    appVersion: "9.9.9",
    userId: "u-1",
    locale: "en-GB",
    fetch: env.fetch,
    storage: env.storage,
    navigator: env.navigator,
    window: env.window,
    document: env.document,
    now: env.clock.now,
    setTimeout: env.clock.setTimeout,
    clearTimeout: env.clock.clearTimeout,
    random: env.random,
    ...extra,
  };
}

export const click = (slot = 1, extra = {}) => ({
  video_id: `v-${slot}`,
  impression_id: "imp-1",
  surface: "home",
  slot,
  rank: slot + 10,
  ...extra,
});
