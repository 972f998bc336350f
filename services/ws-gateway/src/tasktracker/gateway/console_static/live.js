// One WebSocket per signed-in project, subscribed to `space:<pid>:*`. After a dropped
// connection it reconnects and resumes with `since` = the last sequence it processed, so
// nothing is missed and nothing is seen twice; if the gateway could not replay (history aged
// out) it asks the views to reload over REST.

const RETRY_MIN_MS = 300;
const RETRY_MAX_MS = 5000;

export class LiveFeed {
  constructor({ token, projectId, onEvent, onStatus, onResync }) {
    this.token = token;
    this.projectId = projectId;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onResync = onResync;
    this.lastSeq = null;
    this.retryMs = RETRY_MIN_MS;
    this.stopped = false;
    this.socket = null;
    this.subscriptions = 0;
    this.connects = 0;
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, "signed out");
  }

  connect() {
    if (this.stopped) return;
    this.status(this.connects === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // A browser's WebSocket cannot send an Authorization header: the gateway reads `?token=`
    // on /ws only, and blanks it in its logs.
    const url = `${scheme}//${location.host}/ws?token=${encodeURIComponent(this.token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    this.connects += 1;
    socket.addEventListener("open", () => {
      const frame = { type: "subscribe", id: `s${this.connects}`, topic: `space:${this.projectId}:*` };
      if (this.lastSeq !== null) frame.since = this.lastSeq;
      socket.send(JSON.stringify(frame));
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  receive(data) {
    if (this.stopped) return; // a frame still in flight on a socket of the previous project
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "subscribed") {
      const resumed = this.lastSeq !== null;
      if (resumed && !frame.recovered) this.onResync?.();
      if (!resumed || !frame.recovered) this.lastSeq = frame.position;
      this.retryMs = RETRY_MIN_MS;
      this.subscriptions += 1;
      this.status("live");
    } else if (frame.type === "event") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      const envelope = frame.event;
      if (envelope?.project_id !== this.projectId) return; // never another project's event
      this.onEvent?.(envelope, frame.seq);
    } else if (frame.type === "error") {
      this.status(frame.code === 403 ? "forbidden" : "error", frame.message);
    }
  }

  closed(socket, event) {
    if (socket !== this.socket || this.stopped) return;
    if (event.code === 4401) {
      this.status("unauthorized");
      return;
    }
    this.status("reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  status(state, detail) {
    this.state = state;
    this.onStatus?.(state, detail);
  }
}
