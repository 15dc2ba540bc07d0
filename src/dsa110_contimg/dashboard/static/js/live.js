// Live events over the API's WebSocket (/api/ws): subscribe to topics, get each
// event, reconnect after a drop and replay what was missed (since=<last id>).

/**
 * Subscribe to `topics` (e.g. ["job:*"]); `onEvent(event)` gets every event,
 * `onState("live" | "connecting" | "offline")` the connection's state.
 * Returns a function that closes the subscription.
 */
export function subscribe(topics, onEvent, onState = () => {}) {
  let socket = null;
  let lastId = null;
  let closed = false;
  let delay = 500;
  let timer = null;

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
        if (lastId === null) lastId = data.last_event_id;
        delay = 500;
        onState("live");
      } else if (data.type === "event") {
        lastId = Math.max(lastId ?? 0, data.id);
        onEvent(data);
      }
    });
    socket.addEventListener("close", () => {
      if (closed) return;
      onState("offline");
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };

  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
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
