// Review queue: a run's pending proposals beside their source messages, the merge suggestion,
// keyboard shortcuts (j/k move, a approve, r reject, m merge, e edit, x select), bulk actions,
// and the run's counters — all following decisions made anywhere, live.
import { ask, h, replace, when } from "../dom.js";

const KEYS_HELP = "Keys: j / k move · a approve · r reject · m merge · e edit · x select";

export function reviewView(ctx) {
  const base = `${ctx.base}/proposals`;
  const runPicker = h("select", { id: "review-run" });
  const counters = h("p", { className: "counters", role: "status", "aria-live": "polite", id: "review-counters" });
  const list = h("ul", { className: "queue", role: "listbox", "aria-label": "Pending proposals", tabindex: "0", "aria-multiselectable": "true" });
  const detail = h("div", { className: "detail", "aria-live": "polite", id: "review-detail" });
  const bulk = h("div", { className: "actions bulk", role: "group", "aria-label": "Selected proposals" },
    h("button", { type: "button", onclick: () => bulkDecide("approve") }, "Approve selected"),
    h("button", { type: "button", onclick: () => bulkDecide("reject") }, "Reject selected"),
    h("button", { type: "button", onclick: () => bulkDecide("merge") }, "Merge selected"));
  const element = h("section", { "aria-labelledby": "review-title", className: "review" },
    h("div", { className: "review-head" },
      h("h2", { id: "review-title" }, "Review queue"),
      h("label", { for: "review-run" }, "Run"), runPicker, counters),
    h("p", { className: "muted keys" }, KEYS_HELP), bulk,
    h("div", { className: "split" }, list, detail));

  let runId = ctx.params.runId || null;
  let proposals = []; // the run's pending proposals, in queue order
  let cursor = 0;
  const chosen = new Set();
  const details = new Map(); // proposal id → detail with source messages

  function showCounters(c) {
    if (!c) return;
    counters.textContent = `${c.total ?? c.proposals_total} total · ${c.pending} pending · ${c.approved} approved · ${c.rejected} rejected · ${c.merged} merged`;
    Object.assign(counters.dataset, { pending: c.pending, approved: c.approved, rejected: c.rejected, merged: c.merged });
  }

  function renderList() {
    replace(list, proposals.map((p, index) => {
      const item = h("li", {
        role: "option", id: `proposal-${p.id}`, "aria-selected": String(index === cursor),
        className: index === cursor ? "current" : "", dataset: { proposalId: p.id },
        onclick: () => move(index - cursor),
      },
      h("input", { type: "checkbox", checked: chosen.has(p.id), "aria-label": `Select ${p.title}`, tabindex: "-1",
        onclick: (event) => { event.stopPropagation(); toggle(p.id); } }),
      h("span", { className: "title" }, p.title),
      h("span", { className: `tag priority-${p.priority}` }, p.priority),
      h("span", { className: "muted" }, `${Math.round(p.confidence * 100)} %`),
      p.suggested_task_id ? h("span", { className: "tag suggestion" }, `looks like task ${p.suggested_task_id}`) : null);
      return item;
    }));
    if (proposals.length) list.setAttribute("aria-activedescendant", `proposal-${proposals[cursor].id}`);
    else list.append(h("li", { className: "muted" }, runId ? "Nothing pending in this run." : "No run to review yet."));
    renderDetail();
  }

  async function renderDetail() {
    const p = proposals[cursor];
    if (!p) return replace(detail);
    let full = details.get(p.id);
    if (!full) {
      try {
        full = await ctx.api.get(`${base}/${p.id}`);
        details.set(p.id, full);
      } catch (error) {
        return ctx.report(error);
      }
    }
    if (proposals[cursor]?.id !== p.id) return; // moved on meanwhile
    replace(detail,
      h("article", { className: "card", "aria-label": "Proposal" },
        h("h3", {}, full.title, full.edited ? h("span", { className: "tag" }, "edited") : null),
        h("p", {}, full.description),
        h("dl", { className: "facts" },
          h("dt", {}, "Priority"), h("dd", {}, full.priority),
          h("dt", {}, "Category"), h("dd", {}, full.category),
          h("dt", {}, "Assignee"), h("dd", {}, full.assignee || "—"),
          h("dt", {}, "Confidence"), h("dd", {}, `${Math.round(full.confidence * 100)} %`),
          h("dt", {}, "Why"), h("dd", {}, full.reasoning || "—")),
        full.suggested_task_id
          ? h("p", { className: "suggestion", id: "merge-suggestion" }, `Looks like task ${full.suggested_task_id}`,
              full.similar_task_score ? ` (similarity ${Math.round(full.similar_task_score)})` : "", " — press m to merge into it.")
          : null),
      h("section", { className: "card", "aria-label": "Source messages" },
        h("h3", {}, "Source messages"),
        h("ol", { className: "messages" }, (full.source_messages || []).map((m) =>
          h("li", { className: "message" },
            h("div", { className: "meta" }, h("strong", {}, m.author_name), " · ", h("time", { datetime: m.sent_at }, when(m.sent_at))),
            h("p", { className: "text" }, m.text))))));
  }

  function move(delta) {
    if (!proposals.length) return;
    cursor = Math.max(0, Math.min(proposals.length - 1, cursor + delta));
    renderList();
    document.getElementById(`proposal-${proposals[cursor].id}`)?.scrollIntoView({ block: "nearest" });
  }

  function toggle(id) {
    if (chosen.has(id)) chosen.delete(id);
    else chosen.add(id);
    renderList();
  }

  function removeDecided(id) {
    const index = proposals.findIndex((p) => p.id === id);
    if (index < 0) return;
    proposals.splice(index, 1);
    chosen.delete(id);
    if (index < cursor || cursor >= proposals.length) cursor = Math.max(0, cursor - 1);
    renderList();
  }

  async function decide(call) {
    try {
      ctx.clearNotice();
      const answer = await call();
      if (answer?.task_id && answer.status === "approved") ctx.notice(`Approved: task #${answer.task_id} created.`);
      else if (answer?.status) ctx.notice(`Proposal ${answer.status}.`);
      for (const p of [answer].flat()) if (p?.id) removeDecided(p.id);
      if (answer?.items) for (const p of answer.items) removeDecided(p.id);
      await loadCounters();
    } catch (error) {
      ctx.report(error);
      if (error.status === 409) await loadQueue();
    }
  }

  async function askReason(what) {
    const answer = await ask(`Reject ${what}`, [{ name: "reason", label: "Reason", required: true, multiline: true }], "Reject");
    return answer?.reason || null;
  }

  async function askTask(suggested, what) {
    const answer = await ask(`Merge ${what} into task`, [{ name: "task", label: "Task id", type: "number", required: true, value: suggested ?? "" }], "Merge");
    return answer ? Number(answer.task) : null;
  }

  async function act(key) {
    const p = proposals[cursor];
    if (!p) return;
    if (key === "a") await decide(() => ctx.api.put(`${base}/${p.id}/approve`));
    if (key === "r") {
      const reason = await askReason(`"${p.title}"`);
      if (reason) await decide(() => ctx.api.put(`${base}/${p.id}/reject`, { reason }));
    }
    if (key === "m") {
      const task = await askTask(p.suggested_task_id, `"${p.title}"`);
      if (task) await decide(() => ctx.api.put(`${base}/${p.id}/merge`, { task_id: task }));
    }
    if (key === "e") {
      const fields = [
        { name: "title", label: "Title", value: p.title, required: true },
        { name: "description", label: "Description", value: details.get(p.id)?.description ?? p.description, multiline: true },
      ];
      const answer = await ask("Edit proposal", fields, "Save");
      if (answer) {
        try {
          const edited = await ctx.api.patch(`${base}/${p.id}`, answer);
          replaceProposal(edited);
        } catch (error) {
          ctx.report(error);
        }
      }
    }
  }

  function replaceProposal(updated) {
    const index = proposals.findIndex((p) => p.id === updated.id);
    if (index < 0) return;
    proposals[index] = { ...proposals[index], ...updated };
    details.delete(updated.id);
    renderList();
  }

  async function bulkDecide(kind) {
    const ids = [...chosen];
    if (!ids.length) return ctx.notice("Select proposals first (x, or the checkboxes).");
    if (kind === "approve") return decide(() => ctx.api.put(`${base}/approve`, { ids }).then(() => ids.forEach(removeDecided)));
    if (kind === "reject") {
      const reason = await askReason(`${ids.length} proposal(s)`);
      if (reason) await decide(() => ctx.api.put(`${base}/reject`, { ids, reason }).then(() => ids.forEach(removeDecided)));
    }
    if (kind === "merge") {
      const first = proposals.find((p) => chosen.has(p.id));
      const task = await askTask(first?.suggested_task_id, `${ids.length} proposal(s)`);
      if (task) await decide(() => ctx.api.put(`${base}/merge`, { ids, task_id: task }).then(() => ids.forEach(removeDecided)));
    }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.toLowerCase();
    if (key === "j" || key === "arrowdown") move(1);
    else if (key === "k" || key === "arrowup") move(-1);
    else if (key === "x" && proposals[cursor]) toggle(proposals[cursor].id);
    else if ("arme".includes(key) && key.length === 1) act(key);
    else return;
    event.preventDefault();
  }

  async function loadRuns() {
    const page = await ctx.api.get(`${ctx.base}/runs`, { limit: 20 });
    const runs = page.items.filter((r) => r.status !== "pending");
    replace(runPicker, runs.map((r) => h("option", { value: r.id }, `${r.id.slice(0, 8)} · ${r.status} · ${when(r.created_at || r.timings?.created_at)}`)));
    if (!runId || !runs.some((r) => r.id === runId)) runId = runs[0]?.id || null;
    if (runId) runPicker.value = runId;
  }

  async function loadCounters() {
    if (!runId) return replace(counters);
    const run = await ctx.api.get(`${ctx.base}/runs/${runId}`);
    const counts = { ...run.counters, total: run.counters.proposals_total };
    showCounters(counts);
    return counts;
  }

  async function loadQueue() {
    proposals = [];
    details.clear();
    if (runId) {
      const page = await ctx.api.get(base, { run_id: runId, status: "pending", limit: 500 });
      proposals = page.items;
    }
    for (const id of [...chosen]) if (!proposals.some((p) => p.id === id)) chosen.delete(id);
    cursor = Math.min(cursor, Math.max(0, proposals.length - 1));
    renderList();
    const counts = await loadCounters();
    // review reads the run's proposals from analysis' events: it may lag the run's counters
    clearTimeout(catchUp);
    if (counts && proposals.length < counts.pending && attempts < 30) {
      attempts += 1;
      catchUp = setTimeout(() => loadQueue().catch(ctx.report), 500);
    } else attempts = 0;
  }

  runPicker.addEventListener("change", () => {
    runId = runPicker.value;
    cursor = 0;
    chosen.clear();
    loadQueue().catch(ctx.report);
  });
  document.addEventListener("keydown", onKey);

  let reload = null;
  let catchUp = null;
  let attempts = 0;
  return {
    element,
    async load() {
      await loadRuns();
      await loadQueue();
      list.focus();
    },
    onEvent(envelope) {
      const data = envelope.data || {};
      if (envelope.topic === "proposals" && data.run_id === runId) {
        if (["approved", "rejected", "merged"].includes(envelope.type)) {
          removeDecided(data.proposal_id);
          showCounters(data.counters);
        } else if (envelope.type === "updated") {
          ctx.api.get(`${base}/${data.proposal_id}`).then(replaceProposal, ctx.report);
        }
      } else if (envelope.topic === "analysis_runs" && (!runId || data.run_id === runId)) {
        clearTimeout(reload); // new proposals or a new run: read the queue again, once per burst
        reload = setTimeout(() => (runId ? loadQueue() : this.load()).catch(ctx.report), 300);
      }
    },
    dispose() {
      clearTimeout(reload);
      clearTimeout(catchUp);
      document.removeEventListener("keydown", onKey);
    },
  };
}
