// Live events over the API's WebSocket (/api/ws): subscribe to topics, get each
// event, reconnect after a drop and replay what was missed (since=<last id>).
//
// Reconnecting backs off: the wait doubles after each drop (with random jitter,
// so many dashboards do not reconnect in step), up to MAX_DELAY_MS, and starts
// small again only once a connection has stayed up for STABLE_MS. When the
// server says "resync" (the page missed more events than it replays), the page
// reloads what it shows and continues from the server's newest event.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const STABLE_MS = 10000;

/** The wait before reconnect attempt `attempt` (0, 1, ...): exponential, jittered, capped. */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Subscribe to `topics` (e.g. ["job:*"]); `onEvent(event)` gets every event,
 * `onState("live" | "connecting" | "offline")` the connection's state, and
 * `onResync()` is called when events were missed and the view must be reloaded.
 * Returns a function that closes the subscription.
 */
export function subscribe(topics, onEvent, onState = () => {}, onResync = () => {}) {
  let socket = null;
  let lastId = null;
  let closed = false;
  let attempt = 0;
  let timer = null;
  let stable = null;

  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ topics: topics.join(",") });
    if (lastId !== null) query.set("since", String(lastId));
    onState("connecting");
    socket = new WebSocket(`${scheme}://${location.host}/api/ws?${query}`);
    socket.addEventListener("message", (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === "subscribed") {
        if (lastId === null && data.last_event_id !== undefined) lastId = data.last_event_id;
        onState("live");
        clearTimeout(stable);
        stable = setTimeout(() => { attempt = 0; }, STABLE_MS);
      } else if (data.type === "event") {
        lastId = Math.max(lastId ?? 0, data.id);
        onEvent(data);
      } else if (data.type === "resync") {
        // What was missed is not coming: start again from the server's newest event.
        lastId = data.last_event_id ?? lastId;
        onResync();
      }
    });
    socket.addEventListener("close", (event) => {
      clearTimeout(stable);
      if (closed) return;
      onState("offline");
      // Refused (1008: bad request or origin) will not get better soon: wait the longest.
      const delay = event.code === 1008 ? MAX_DELAY_MS : backoffDelay(attempt);
      attempt += 1;
      timer = setTimeout(connect, delay);
    });
  };

  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    clearTimeout(stable);
    if (socket) socket.close();
  };
}

/** A small "live" indicator for onState. */
export function liveBadge() {
  const badge = document.createElement("span");
  badge.className = "live-state";
  badge.textContent = "connecting";
  const setState = (state) => {
    badge.textContent = state;
    badge.dataset.state = state;
  };
  return [badge, setState];
}
