// Chat: the project's messages, newest first, paged from the server, new ones arriving live.
import { h, replace, when } from "../dom.js";

const PAGE = 30;

export function messageItem(message) {
  return h(
    "li",
    { className: "message", dataset: { messageId: message.id } },
    h("div", { className: "meta" },
      h("strong", {}, message.author?.display_name || message.author_name || "unknown"),
      " · ",
      h("time", { datetime: message.sent_at }, when(message.sent_at)),
      message.edited_at ? h("span", { className: "tag" }, "edited") : null,
    ),
    h("p", { className: "text" }, message.text),
  );
}

export function chatView(ctx) {
  const list = h("ol", { className: "messages", "aria-label": "Messages, newest first" });
  const more = h("button", { type: "button", hidden: true }, "Load older messages");
  const count = h("p", { className: "muted", role: "status" });
  const element = h("section", { "aria-labelledby": "chat-title" },
    h("h2", { id: "chat-title" }, "Chat"), count, list, more);
  const shown = new Map(); // message id → list item
  let cursor = null;

  function render(message, where) {
    const item = messageItem(message);
    const existing = shown.get(message.id);
    if (existing) existing.replaceWith(item);
    else if (where === "top") list.prepend(item);
    else list.append(item);
    shown.set(message.id, item);
    count.textContent = `${shown.size} message${shown.size === 1 ? "" : "s"} shown`;
  }

  async function page() {
    const answer = await ctx.api.get(`${ctx.base}/messages`, { order: "desc", limit: PAGE, cursor });
    for (const message of answer.items) render(message, "bottom");
    cursor = answer.next_cursor;
    more.hidden = !cursor;
  }

  more.addEventListener("click", () => page().catch(ctx.report));

  return {
    element,
    async load() {
      shown.clear();
      replace(list);
      cursor = null;
      await page();
    },
    onEvent(envelope) {
      if (envelope.type === "message.updated") render(envelope.data.message, "top");
    },
  };
}
