// Knowledge: start an extraction over a window, follow it, and review its topic and atom
// proposals (approve, edit, reject with a reason; one at a time or selected in bulk).
import { ask, field, h, isoFromLocal, localInputValue, replace, when } from "../dom.js";

const DAY_MS = 24 * 3600 * 1000;

export function knowledgeView(ctx) {
  const base = `${ctx.base}/knowledge`;
  const since = h("input", { type: "datetime-local", required: true });
  const until = h("input", { type: "datetime-local", required: true });
  since.value = localInputValue(new Date(Date.now() - DAY_MS));
  until.value = localInputValue(new Date(Date.now() + 60 * 1000));
  const form = h("form", { className: "inline-form", "aria-label": "New extraction" },
    field("Messages since", since), field("Until", until),
    h("button", { type: "submit" }, "Start extraction"));
  const extractions = h("ul", { className: "extractions", "aria-label": "Extractions" });
  const table = h("tbody");
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select all proposals" });
  const bulk = h("div", { className: "actions bulk", role: "group", "aria-label": "Selected proposals" },
    h("button", { type: "button", onclick: () => decideSelected("approve") }, "Approve selected"),
    h("button", { type: "button", onclick: () => decideSelected("reject") }, "Reject selected"));
  const empty = h("p", { className: "muted", role: "status" });
  const element = h("section", { "aria-labelledby": "knowledge-title" },
    h("h2", { id: "knowledge-title" }, "Knowledge"), form,
    h("h3", {}, "Extractions"), extractions,
    h("h3", {}, "Pending proposals"), bulk, empty,
    h("table", { className: "proposals" },
      h("thead", {}, h("tr", {}, h("th", {}, selectAll), h("th", {}, "Kind"), h("th", {}, "Title"),
        h("th", {}, "Content"), h("th", {}, "Topic"), h("th", {}, "Actions"))),
      table));

  function selected() {
    return [...table.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
  }

  async function act(call) {
    try {
      ctx.clearNotice();
      await call();
    } catch (error) {
      ctx.report(error);
    }
    await loadProposals();
  }

  async function decideSelected(decision) {
    const ids = selected();
    if (!ids.length) return ctx.notice("Select proposals first.");
    if (decision === "approve") return act(() => ctx.api.post(`${base}/proposals/approve`, { ids }));
    const answer = await ask(`Reject ${ids.length} proposal(s)`, [{ name: "reason", label: "Reason", required: true, multiline: true }], "Reject");
    if (answer) await act(() => ctx.api.post(`${base}/proposals/reject`, { ids, reason: answer.reason }));
  }

  async function edit(p) {
    const fields = [
      { name: "title", label: "Title", value: p.title, required: true },
      { name: "content", label: "Content", value: p.content, multiline: true },
    ];
    const answer = await ask(`Edit ${p.kind} proposal`, fields, "Save");
    if (answer) await act(() => ctx.api.patch(`${base}/proposals/${p.id}`, answer));
  }

  async function reject(p) {
    const answer = await ask(`Reject "${p.title}"`, [{ name: "reason", label: "Reason", required: true, multiline: true }], "Reject");
    if (answer) await act(() => ctx.api.post(`${base}/proposals/${p.id}/reject`, { reason: answer.reason }));
  }

  function row(p) {
    return h("tr", { dataset: { proposalId: p.id } },
      h("td", {}, h("input", { type: "checkbox", value: p.id, "aria-label": `Select ${p.title}` })),
      h("td", {}, p.kind),
      h("td", {}, p.title, p.edited ? h("span", { className: "tag" }, "edited") : null),
      h("td", { className: "content" }, p.content),
      h("td", {}, p.topic_name || ""),
      h("td", { className: "actions" },
        h("button", { type: "button", onclick: () => act(() => ctx.api.post(`${base}/proposals/${p.id}/approve`)), "aria-label": `Approve ${p.title}` }, "Approve"),
        h("button", { type: "button", onclick: () => edit(p), "aria-label": `Edit ${p.title}` }, "Edit"),
        h("button", { type: "button", onclick: () => reject(p), "aria-label": `Reject ${p.title}` }, "Reject")));
  }

  function extractionItem(x) {
    return h("li", { dataset: { extractionId: x.id, status: x.status } },
      h("span", { className: `status status-${x.status}` }, x.status), " ",
      `${when(x.window_start)} → ${when(x.window_end)}: ${x.message_count} messages, `,
      h("progress", { max: Math.max(x.chunks_total, 1), value: x.chunks_done, "aria-label": `Extraction ${x.id.slice(0, 8)} progress` }),
      ` ${x.chunks_done}/${x.chunks_total} chunks · ${x.topic_proposals} topics, ${x.atom_proposals} atoms`,
      x.error ? h("span", { className: "error-text" }, ` — ${x.error}`) : null);
  }

  async function loadExtractions() {
    const answer = await ctx.api.get(`${base}/extractions`, { limit: 10 });
    const items = answer.items || answer;
    replace(extractions, items.map(extractionItem));
  }

  async function loadProposals() {
    const answer = await ctx.api.get(`${base}/proposals`, { status: "pending", limit: 200 });
    replace(table, answer.items.map(row));
    selectAll.checked = false;
    empty.textContent = answer.items.length ? `${answer.items.length} pending` : "No pending proposal.";
  }

  selectAll.addEventListener("change", () => {
    for (const box of table.querySelectorAll("input[type=checkbox]")) box.checked = selectAll.checked;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      await ctx.api.post(`${base}/extract`, { since: isoFromLocal(since.value), until: isoFromLocal(until.value) });
      await loadExtractions();
    });
  });

  let pending = null;
  function refreshSoon() { // a burst of events → one reload
    clearTimeout(pending);
    pending = setTimeout(() => Promise.all([loadExtractions(), loadProposals()]).catch(ctx.report), 150);
  }

  return {
    element,
    async load() {
      await Promise.all([loadExtractions(), loadProposals()]);
    },
    onEvent(envelope) {
      if (envelope.topic === "knowledge_extraction" || envelope.topic === "topics") refreshSoon();
    },
    dispose() {
      clearTimeout(pending);
    },
  };
}
