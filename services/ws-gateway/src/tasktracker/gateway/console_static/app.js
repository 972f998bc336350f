// The console's shell: sign-in, the project switcher, the live connection and the views.
import { Api, ApiError, explain, readClaims } from "./api.js";
import { replace } from "./dom.js";
import { LiveFeed } from "./live.js";
import { chatView } from "./views/chat.js";
import { knowledgeView } from "./views/knowledge.js";
import { reviewView } from "./views/review.js";
import { runsView } from "./views/runs.js";
import { tasksView } from "./views/tasks.js";

const VIEWS = { review: reviewView, chat: chatView, knowledge: knowledgeView, runs: runsView, tasks: tasksView };
const TOKEN_KEY = "tasktracker.token";
const STATUS_TEXT = {
  idle: "Offline",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  unauthorized: "Signed out: token expired",
  forbidden: "No access to live updates",
  error: "Live updates failed",
};

const $ = (id) => document.getElementById(id);
const state = { api: null, claims: null, projects: [], projectId: null, viewName: "review", view: null, live: null, params: {} };

function showAlert(text, kind = "error") {
  const box = $("alert");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

export function report(error) {
  showAlert(explain(error));
  if (!(error instanceof ApiError)) console.error(error);
}

function signedOut(message) {
  state.live?.stop();
  state.view?.dispose?.();
  Object.assign(state, { api: null, claims: null, projects: [], projectId: null, view: null, live: null });
  sessionStorage.removeItem(TOKEN_KEY);
  $("session").hidden = true;
  $("views").hidden = true;
  replace($("view"));
  $("sign-in").hidden = false;
  showAlert(message || "");
  $("token-input").focus();
}

async function signIn(token) {
  let claims;
  try {
    claims = readClaims(token);
  } catch {
    signedOut("That is not an access token (a JWT has three dot-separated parts).");
    return;
  }
  const api = new Api(token, () => signedOut(explain(new ApiError(401))));
  const roles = Object.entries(claims.projects || {}).map(([id, role]) => ({ id: Number(id), role }));
  let projects = [];
  const missing = [];
  try {
    if (claims.admin) {
      const all = await api.get("/api/projects");
      projects = (all.items || all).map((p) => ({ id: p.id, name: p.name, role: "admin" }));
    } else {
      for (const { id, role } of roles) {
        try {
          const project = await api.get(`/api/projects/${id}`);
          projects.push({ id, name: project.name, role });
        } catch (error) {
          if (error.status !== 404) throw error;
          missing.push(id); // named in the token, but not found: not offered
        }
      }
    }
  } catch (error) {
    if (error.status !== 401) signedOut(explain(error));
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  Object.assign(state, { api, claims, projects });
  $("sign-in").hidden = true;
  $("session").hidden = false;
  $("views").hidden = false;
  $("whoami").textContent = `Signed in as ${claims.sub}`;
  showAlert("");
  const switcher = $("project-switcher");
  replace(
    switcher,
    projects.map((p) => {
      const option = document.createElement("option");
      option.value = String(p.id);
      option.textContent = `${p.name} (#${p.id}, ${p.role})`;
      return option;
    }),
  );
  if (!projects.length) {
    showAlert("This token can see no project. Ask an admin for a token with a role in a project.", "info");
    return;
  }
  openProject(projects[0].id);
  if (missing.length) {
    const ids = missing.map((id) => `#${id}`).join(", ");
    showAlert(`Not found: project ${ids}, named in your token, does not exist (any more); it is not offered.`, "info");
  }
}

function openProject(projectId) {
  state.live?.stop();
  state.projectId = projectId;
  $("project-switcher").value = String(projectId);
  state.live = new LiveFeed({
    token: state.api.token,
    projectId,
    onEvent: (envelope) => {
      if (envelope.project_id === state.projectId) state.view?.onEvent?.(envelope);
    },
    onStatus: (status, detail) => {
      const badge = $("live-status");
      badge.dataset.state = status;
      badge.textContent = STATUS_TEXT[status] || status;
      if (detail) badge.title = detail;
      if (status === "unauthorized") signedOut(explain(new ApiError(401)));
    },
    onResync: () => state.view?.load(),
  });
  state.live.start();
  openView(state.viewName);
}

function openView(name, params = {}) {
  state.view?.dispose?.();
  state.viewName = name;
  state.params = params;
  for (const button of document.querySelectorAll("#views button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  const project = state.projects.find((p) => p.id === state.projectId);
  const context = {
    api: state.api,
    projectId: state.projectId,
    role: project?.role,
    base: `/api/projects/${state.projectId}`,
    params,
    report,
    notice: (text) => showAlert(text, "info"),
    clearNotice: () => showAlert(""),
    go: openView,
  };
  state.view = VIEWS[name](context);
  replace($("view"), state.view.element);
  showAlert("");
  state.view.load().catch(report);
}

function start() {
  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value.trim());
  });
  $("sign-out").addEventListener("click", () => signedOut("Signed out."));
  $("project-switcher").addEventListener("change", (event) => openProject(Number(event.target.value)));
  for (const button of document.querySelectorAll("#views button")) {
    button.addEventListener("click", () => openView(button.dataset.view));
  }
  // `make run` prints `/#token=…`: the fragment never reaches a server. Take it and drop it
  // from the address bar (and history) at once.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get("token");
  if (fromLink) history.replaceState(null, "", location.pathname + location.search);
  const token = fromLink || sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else signedOut();
}

start();
