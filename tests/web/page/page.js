// Wires the test page to the tracker as a site would: thumbnail clicks and video pauses.
// The tracker's options come from the query string, so a test can point it at its own server
// and shorten its timers: ?endpoint=...&writeKey=...&flushIntervalMs=...&batchSize=...&requireConsent=true&shown=true
import { createTracker } from "./tracker.js";

const params = new URLSearchParams(location.search);
const number = (name) => (params.has(name) ? Number(params.get(name)) : undefined);

const tracker = createTracker({
  endpoint: params.get("endpoint") || new URL("/v1/events", location.href).href,
  writeKey: params.get("writeKey") || "local-write-key",
  appVersion: "web-test-page/1",
  userId: params.get("userId") || undefined,
  batchSize: number("batchSize"),
  flushIntervalMs: number("flushIntervalMs"),
  baseDelayMs: number("baseDelayMs"),
  maxDelayMs: number("maxDelayMs"),
  requireConsent: params.get("requireConsent") === "true",
});

for (const row of document.querySelectorAll(".row")) {
  // ?shown=true: report the rendered row (contract 1.3) and give each thumbnail the impression id
  // shown() made for it, which its click then carries. Without it the row's one id is used.
  if (params.get("shown") === "true") {
    const thumbs = [...row.querySelectorAll(".thumb")];
    const { impressionIds } = tracker.shown({
      requestId: row.dataset.recommendationRequestId,
      surface: row.dataset.surface,
      items: thumbs.map((t) => ({ videoId: t.dataset.videoId, slot: Number(t.dataset.slot), rank: Number(t.dataset.rank) })),
    });
    thumbs.forEach((t, i) => (t.dataset.impressionId = impressionIds[i]));
  }
  row.addEventListener("click", (event) => {
    const thumb = event.target.closest(".thumb");
    if (!thumb) return;
    event.preventDefault();
    tracker.thumbnailClicked({
      video_id: thumb.dataset.videoId,
      impression_id: thumb.dataset.impressionId || row.dataset.impressionId,
      surface: row.dataset.surface,
      slot: Number(thumb.dataset.slot),
      rank: Number(thumb.dataset.rank),
      recommendation_request_id: row.dataset.recommendationRequestId,
    });
  });
}

// A tiny generated video: a canvas whose colour changes every frame, streamed into <video>.
const video = document.getElementById("player");
const canvas = Object.assign(document.createElement("canvas"), { width: 64, height: 36 });
const paint = canvas.getContext("2d");
let frame = 0;
setInterval(() => {
  paint.fillStyle = `hsl(${(frame++ * 10) % 360}, 80%, 50%)`;
  paint.fillRect(0, 0, canvas.width, canvas.height);
}, 40);
video.srcObject = canvas.captureStream(25);

document.getElementById("play").addEventListener("click", () => video.play());
document.getElementById("pause").addEventListener("click", () => video.pause());
video.addEventListener("pause", () => {
  const duration = Number.isFinite(video.duration) ? video.duration * 1000 : undefined; // a stream has none
  tracker.videoPaused({
    video_id: video.dataset.videoId,
    position_ms: video.currentTime * 1000,
    video_duration_ms: duration,
    playback_rate: video.playbackRate,
  });
});

// For the browser tests: the tracker's counters and queue.
window.tracker = tracker;
window.trackerReady = true;
