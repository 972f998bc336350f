// Runs: create and start an analysis run over a window, its live progress (from
// `progress_updated`), its status, and its metrics once closed.
import { field, h, isoFromLocal, localInputValue, replace, when } from "../dom.js";

const DAY_MS = 24 * 3600 * 1000;

function percent(done, total) {
  return total ? Math.round((100 * done) / total) : 0;
}

function metricsList(metrics) {
  if (!metrics) return null;
  const rate = (r) => `${Math.round(r * 100)} %`;
  return h("dl", { className: "metrics" },
    h("dt", {}, "Proposals"), h("dd", {}, metrics.total),
    h("dt", {}, "Approved"), h("dd", {}, `${metrics.approved} (${rate(metrics.approval_rate)})`),
    h("dt", {}, "Rejected"), h("dd", {}, `${metrics.rejected} (${rate(metrics.rejection_rate)})`),
    h("dt", {}, "Merged"), h("dd", {}, `${metrics.merged} (${rate(metrics.merge_rate)})`),
    h("dt", {}, "Edited before approval"), h("dd", {}, metrics.edited_before_approval),
  );
}

export function runsView(ctx) {
  const now = new Date();
  const startInput = h("input", { type: "datetime-local", required: true });
  const endInput = h("input", { type: "datetime-local", required: true });
  startInput.value = localInputValue(new Date(now - 7 * DAY_MS));
  endInput.value = localInputValue(new Date(now.getTime() + 3600 * 1000));
  const form = h("form", { className: "inline-form", "aria-label": "New run" },
    field("Window start", startInput), field("Window end", endInput),
    h("button", { type: "submit" }, "Create run"));
  const list = h("div", { className: "runs" });
  const element = h("section", { "aria-labelledby": "runs-title" },
    h("h2", { id: "runs-title" }, "Analysis runs"), form, list);
  const runs = new Map();

  async function act(call) {
    try {
      ctx.clearNotice();
      const run = await call();
      if (run?.id) upsert(run);
    } catch (error) {
      ctx.report(error);
      if (error.status === 409) await load();
    }
  }

  function card(run) {
    const p = run.progress || { batches_done: 0, batches_total: 0 };
    const bar = h("progress", {
      max: Math.max(p.batches_total, 1), value: p.batches_done,
      "aria-label": `Progress of run ${run.id.slice(0, 8)}`,
    });
    const c = run.counters || {};
    const buttons = [];
    const runs = `${ctx.base}/runs/${run.id}`;
    if (run.status === "pending" && !run.timings?.start_requested_at) {
      buttons.push(h("button", { type: "button", onclick: () => act(() => ctx.api.post(`${runs}/start`)) }, "Start"));
    }
    if (run.status === "pending" || run.status === "running") {
      buttons.push(h("button", { type: "button", onclick: () => act(() => ctx.api.post(`${runs}/cancel`, {})) }, "Cancel"));
    }
    if (run.status === "completed" || run.status === "reviewed") {
      buttons.push(h("button", { type: "button", onclick: () => ctx.go("review", { runId: run.id }) }, "Review proposals"));
      buttons.push(h("button", { type: "button", onclick: () => act(() => ctx.api.put(`${runs}/close`)) }, "Close run"));
    }
    return h("article", { className: "card run", dataset: { runId: run.id, status: run.status } },
      h("h3", {}, `Run ${run.id.slice(0, 8)} `, h("span", { className: `status status-${run.status}` }, run.status)),
      h("p", { className: "muted" }, `${when(run.window_start)} → ${when(run.window_end)} · by ${run.created_by}`),
      h("div", { className: "progress" }, bar,
        h("span", { className: "progress-text" }, `${p.batches_done} / ${p.batches_total} batches (${percent(p.batches_done, p.batches_total)} %)`)),
      h("p", { className: "counters" },
        `${c.proposals_total ?? 0} proposals · ${c.pending ?? 0} pending · ${c.approved ?? 0} approved · ${c.rejected ?? 0} rejected · ${c.merged ?? 0} merged`),
      run.error ? h("p", { className: "error-text", role: "alert" }, `Error: ${run.error}`) : null,
      run.status === "closed" ? metricsList(run.metrics) : null,
      h("div", { className: "actions" }, buttons),
    );
  }

  function upsert(run) {
    runs.set(run.id, run);
    const fresh = card(run);
    const old = list.querySelector(`[data-run-id="${run.id}"]`);
    if (old) old.replaceWith(fresh);
    else list.prepend(fresh);
  }

  async function load() {
    const page = await ctx.api.get(`${ctx.base}/runs`, { limit: 20 });
    runs.clear();
    replace(list, page.items.map(card));
    for (const run of page.items) runs.set(run.id, run);
    if (!page.items.length) list.append(h("p", { className: "muted" }, "No run yet."));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => ctx.api.post(`${ctx.base}/runs`, {
      window_start: isoFromLocal(startInput.value),
      window_end: isoFromLocal(endInput.value),
    }).then((run) => {
      list.querySelector("p.muted")?.remove();
      return run;
    }));
  });

  return {
    element,
    load,
    async onEvent(envelope) {
      if (envelope.topic !== "analysis_runs") return;
      const runId = envelope.data.run_id;
      const run = runs.get(runId);
      if (envelope.type === "progress_updated" && run) {
        // the bar follows the event itself; the rest of the run is read back below
        upsert({ ...run, status: "running", progress: { batches_done: envelope.data.batches_done, batches_total: envelope.data.batches_total } });
      }
      try {
        const fetched = await ctx.api.get(`${ctx.base}/runs/${runId}`);
        const known = runs.get(runId); // answers can cross: never move the bar backwards
        if (known && known.progress.batches_done > fetched.progress.batches_done) fetched.progress = known.progress;
        upsert(fetched);
      } catch (error) {
        ctx.report(error);
      }
    },
  };
}
