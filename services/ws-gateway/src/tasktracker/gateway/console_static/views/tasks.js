// Tasks: the project's tasks as a list or a board by status, each with the messages it came from.
import { h, replace, when } from "../dom.js";
import { messageItem } from "./chat.js";

const STATUSES = [["open", "Open"], ["in_progress", "In progress"], ["done", "Done"]];

export function tasksView(ctx) {
  const listButton = h("button", { type: "button", "aria-pressed": "true" }, "List");
  const boardButton = h("button", { type: "button", "aria-pressed": "false" }, "Board");
  const body = h("div", { className: "tasks-body" });
  const detail = h("div", { className: "detail", "aria-live": "polite", id: "task-detail" });
  const element = h("section", { "aria-labelledby": "tasks-title" },
    h("h2", { id: "tasks-title" }, "Tasks"),
    h("div", { className: "actions", role: "group", "aria-label": "Layout" }, listButton, boardButton),
    h("div", { className: "split" }, body, detail));
  let tasks = [];
  let layout = "list";
  let openTask = null;

  function taskButton(task) {
    return h("button", { type: "button", className: "task", dataset: { taskId: task.id }, onclick: () => show(task.id) },
      h("span", { className: "muted" }, `#${task.id} `), task.title,
      task.assignee ? h("span", { className: "tag" }, task.assignee) : null);
  }

  function render() {
    listButton.setAttribute("aria-pressed", String(layout === "list"));
    boardButton.setAttribute("aria-pressed", String(layout === "board"));
    if (!tasks.length) return replace(body, h("p", { className: "muted" }, "No task yet."));
    if (layout === "list") {
      replace(body, h("table", { className: "tasks" },
        h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "Status"), h("th", {}, "Priority"), h("th", {}, "Sources"))),
        h("tbody", {}, tasks.map((t) => h("tr", {},
          h("td", {}, taskButton(t)), h("td", {}, t.status), h("td", {}, t.priority),
          h("td", {}, `${t.source_message_ids.length} message(s)`))))));
    } else {
      replace(body, h("div", { className: "board" }, STATUSES.map(([status, label]) => {
        const column = tasks.filter((t) => t.status === status);
        return h("section", { className: "column", "aria-label": label, dataset: { status } },
          h("h3", {}, `${label} (${column.length})`),
          h("ul", {}, column.map((t) => h("li", {}, taskButton(t)))));
      })));
    }
  }

  async function show(id) {
    openTask = id;
    try {
      const task = await ctx.api.get(`${ctx.base}/tasks/${id}`);
      if (openTask !== id) return;
      replace(detail, h("article", { className: "card", "aria-label": `Task ${id}` },
        h("h3", {}, `#${task.id} ${task.title}`),
        h("p", {}, task.description),
        h("p", { className: "muted" }, `${task.status} · ${task.priority} · created ${when(task.created_at)} by ${task.created_by}`),
        h("h4", {}, "From the messages"),
        h("ol", { className: "messages" }, (task.source_messages || []).map(messageItem)),
        task.proposals?.length ? h("p", { className: "muted" }, `From proposals: ${task.proposals.map((p) => `${p.title} (${p.status})`).join("; ")}`) : null));
    } catch (error) {
      ctx.report(error);
    }
  }

  async function load() {
    const page = await ctx.api.get(`${ctx.base}/tasks`, { limit: 500 });
    tasks = page.items;
    render();
    if (openTask) await show(openTask);
  }

  listButton.addEventListener("click", () => { layout = "list"; render(); });
  boardButton.addEventListener("click", () => { layout = "board"; render(); });

  let pending = null;
  return {
    element,
    load,
    onEvent(envelope) {
      if (envelope.topic !== "tasks") return;
      clearTimeout(pending);
      pending = setTimeout(() => load().catch(ctx.report), 150);
    },
    dispose() {
      clearTimeout(pending);
    },
  };
}
