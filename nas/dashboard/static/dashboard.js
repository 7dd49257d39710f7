// The dashboard: the jobs list, a job's page and a candidate's page, drawn from the REST API
// (live, polled) or, in a `nas report` file, from the data embedded in the page.
"use strict";

const boot = JSON.parse(document.getElementById("boot").textContent);
const embedded = boot.embedded || null;
const POLL_MS = 2000;
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const app = document.getElementById("app");

// ---- data: the API, or what a report embeds ----

async function api(path, options = {}) {
  const headers = { "X-NAS-Dashboard": "1", ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    throw new Error("the session ended: log in again");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(problemText(body, response.status));
  return body;
}

function problemText(body, status) {
  if (body && Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  if (body && body.detail) return String(body.detail);
  return `HTTP ${status}`;
}

async function allJobs() {
  const jobs = [];
  let after = null;
  for (;;) {
    const response = await fetch(`/jobs?limit=500${after === null ? "" : `&after=${after}`}`, { credentials: "same-origin" });
    if (response.status === 401) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      throw new Error("the session ended: log in again");
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    jobs.push(...(await response.json()));
    after = response.headers.get("X-Next-After");
    if (after === null) return jobs;
  }
}

const source = embedded
  ? {
      job: async () => embedded.job,
      candidates: async () => embedded.candidates,
      front: async (x, y, verified) => embedded.fronts[`${verified ? "verified:" : ""}${x},${y}`] || [],
      events: async (after) => embedded.events.filter((e) => after === null || e.id > after),
      analysis: async () => embedded.analysis,
      references: async () => embedded.references || [],
    }
  : {
      job: (id) => api(`/jobs/${id}`),
      candidates: (id) => api(`/jobs/${id}/candidates`),
      front: (x, y, verified, id) => api(`/jobs/${id}/pareto?objectives=${encodeURIComponent(`${x},${y}`)}${verified ? "&verified=true" : ""}`).then((rows) => rows.map((r) => r.candidate)),
      events: (after, id) => api(`/jobs/${id}/events${after === null ? "" : `?after=${after}`}`),
      analysis: (id) => api(`/jobs/${id}/analysis`),
      references: (id) => api(`/jobs/${id}/references`),
    };

// ---- small helpers ----

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "onclick" || name === "oninput" || name === "onchange") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}

// How each metric reads comes with the job (`metric_display`, from nas/job/metrics.py): the same
// label, unit and style the CLI, plots and model card use. Health and verified figures are
// always fractions of examples right.
const FRACTION = { name: "accuracy", label: "accuracy", unit: "%", style: "percent", axis_title: "accuracy (%)", log_axis: false };
const SI = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];

function display(job, metric) {
  return (job && job.metric_display && job.metric_display[metric]) || { name: metric, label: metric, unit: "", style: "plain", axis_title: metric, log_axis: false };
}

function threeDigits(value) {
  return value.toPrecision(3); // as nas/job/metrics.py's "{:#.3g}": trailing zeros kept (13.0, 1.50)
}

function si(value, unit) {
  for (const [scale, prefix] of SI) if (Math.abs(value) >= scale) return `${threeDigits(value / scale)} ${prefix}${unit}`;
  return `${threeDigits(value)} ${unit}`.trim();
}

function fmt(shown, value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (shown.style === "percent") return `${(value * 100).toFixed(2)}%`;
  if (shown.style === "points") return value.toFixed(2);
  if (shown.style === "count") return si(value, shown.unit === "parameters" ? "" : shown.unit);
  if (shown.style === "ms") return `${value.toFixed(2)} ms`;
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function axisFor(shown) {
  const ticks = shown.style === "percent" ? { tickformat: ".1%" } : shown.style === "count" ? { tickformat: "~s", exponentformat: "SI", ticksuffix: shown.unit === "parameters" ? "" : ` ${shown.unit}` } : shown.style === "ms" ? { ticksuffix: " ms" } : {};
  return { title: { text: shown.axis_title }, type: shown.log_axis ? "log" : "linear", ...ticks };
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}

function elapsed(job) {
  if (!job.started_at) return null;
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  return (end - new Date(job.started_at)) / 1000;
}

function statusBadge(status, id) {
  return el("span", { class: `badge ${status}`, id }, status);
}

function primary(job) {
  return job.objectives[0].metric;
}

function jobLink(id) {
  return embedded ? "#" : `/ui/jobs/${id}`;
}

function candidateLink(jobId, candidateId) {
  return embedded ? `#candidate-${candidateId}` : `/ui/jobs/${jobId}/candidates/${candidateId}`;
}

function showError(where, error) {
  where.replaceChildren(el("p", { class: "error" }, error.message || String(error)));
}

// ---- the jobs list ----

async function jobsPage() {
  const table = el("table", { id: "jobs", class: "data" });
  app.replaceChildren(el("h1", {}, "Jobs"), el("p", { class: "muted", id: "jobs-note" }), table);
  const head = ["", "Job", "Name", "Owner", "Status", "Stage", "Progress", "Best so far", "Elapsed", "Submitted"];
  const compare = el("a", { id: "compare", class: "button", hidden: true }, "Compare selected jobs");
  const updateCompare = () => {
    const ids = [...document.querySelectorAll("#jobs input.pick:checked")].map((box) => box.value);
    compare.hidden = ids.length < 2;
    compare.setAttribute("href", `/ui/compare?jobs=${ids.join(",")}`);
  };
  app.append(el("p", { class: "controls" }, compare));
  for (;;) {
    try {
      const jobs = (await allJobs()).reverse(); // newest first
      document.getElementById("jobs-note").textContent = jobs.length ? `${jobs.length} job${jobs.length === 1 ? "" : "s"}; updated ${new Date().toLocaleTimeString()}` : "No jobs yet: submit one with `nas remote submit SPEC.yaml` or POST /jobs.";
      table.replaceChildren(
        el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
        el("tbody", {}, jobs.map((job) => {
          const done = job.counts.done + job.counts.failed, budget = job.budget.candidates;
          const shown = display(job, primary(job));
          const best = job.best ? `${shown.label} ${fmt(shown, job.best.metrics[primary(job)])}` : "–";
          const picked = document.querySelector(`#jobs input.pick[value="${job.id}"]`);
          return el("tr", { "data-job": job.id },
            el("td", {}, job.candidates_done ? el("input", { type: "checkbox", class: "pick", value: job.id, checked: picked && picked.checked, onchange: updateCompare, title: "compare" }) : null),
            el("td", {}, el("a", { href: jobLink(job.id) }, `#${job.id}`)),
            el("td", {}, el("a", { href: jobLink(job.id) }, job.name)),
            el("td", {}, job.owner ?? "–"),
            el("td", {}, statusBadge(job.status), job.waiting ? el("div", { class: "muted small" }, job.waiting) : null,
              job.error ? el("div", { class: "error small", title: job.error }, job.error) : null),
            el("td", { class: "stage" }, stageText(job)),
            el("td", {}, progressBar(done, budget), ` ${done}/${budget}`),
            el("td", {}, best),
            el("td", {}, duration(elapsed(job))),
            el("td", {}, new Date(job.created_at).toLocaleString()));
        })));
    } catch (error) {
      document.getElementById("jobs-note").textContent = `Could not load the jobs: ${error.message}`;
    }
    await sleep(POLL_MS);
  }
}

function stageText(job) {
  // What a job is doing now: its candidates' bar says nothing while the supernet trains.
  if (job.status === "queued") return job.waiting ? "waiting for a coordinator" : "queued";
  if (job.status !== "running") return job.verify && job.verify.state === "done" ? "verified" : "–";
  const stage = job.eta ? job.eta.stage : "starting";
  if (stage === "supernet" && job.supernet && job.supernet.progress && job.supernet.progress.total_steps) {
    return `supernet ${Math.floor((100 * job.supernet.progress.step) / job.supernet.progress.total_steps)}%`;
  }
  const left = job.eta && job.eta.seconds !== null ? `, about ${duration(job.eta.seconds)} left` : "";
  return `${stage}${left}`;
}

function progressBar(done, total) {
  const bar = el("progress", { max: total, value: Math.min(done, total) });
  return bar;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- several jobs' fronts on one plot ----

const JOB_COLORS = ["#d9480f", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e64980", "#495057"];

async function comparePage(ids) {
  app.replaceChildren(el("h1", {}, "Jobs compared"), el("p", { class: "muted", id: "compare-note" }), el("section", { class: "panel" }, el("div", { id: "compare-plot", class: "plot wide" })), el("table", { id: "compare-table", class: "data" }));
  try {
    const jobs = await Promise.all(ids.map((id) => api(`/jobs/${id}`)));
    if (!jobs.length) throw new Error("name the jobs to compare: /ui/compare?jobs=3,5");
    const y = jobs[0].objectives[0].metric, x = (jobs[0].objectives[1] || {}).metric || "params";
    const dy = display(jobs[0], y), dx = display(jobs[0], x);
    // Only jobs whose axes mean the same thing share a plot (a GLUE score is not an accuracy).
    const same = (job) => ["label", "unit"].every((k) => display(job, y)[k] === dy[k] && display(job, x)[k] === dx[k]);
    const shown = jobs.filter(same), left = jobs.filter((job) => !same(job));
    const traces = [], rows = [];
    for (const [i, job] of shown.entries()) {
      const [candidates, front] = await Promise.all([api(`/jobs/${job.id}/candidates?status=done`), api(`/jobs/${job.id}/pareto?objectives=${encodeURIComponent(`${y},${x}`)}`)]);
      const color = JOB_COLORS[i % JOB_COLORS.length], name = `#${job.id} ${job.name}`;
      const points = candidates.filter((c) => typeof c.metrics[x] === "number" && typeof c.metrics[y] === "number");
      const ordered = [...front].sort((a, b) => a.metrics[x] - b.metrics[x]);
      const custom = (c) => [c.candidate, fmt(dx, c.metrics[x]), fmt(dy, c.metrics[y])];
      traces.push({ type: "scatter", mode: "markers", name: `${name}: candidates`, legendgroup: name, showlegend: false, x: points.map((c) => c.metrics[x]), y: points.map((c) => c.metrics[y]), marker: { color, size: 6, opacity: 0.35 }, customdata: points.map(custom), hovertemplate: `${name}, candidate %{customdata[0]}<br>${dx.label} %{customdata[1]}<br>${dy.label} %{customdata[2]}<extra></extra>` });
      traces.push({ type: "scatter", mode: "lines+markers", name, legendgroup: name, x: ordered.map((c) => c.metrics[x]), y: ordered.map((c) => c.metrics[y]), line: { shape: "hv", color }, marker: { color, size: 9 }, customdata: ordered.map(custom), hovertemplate: `${name}, candidate %{customdata[0]}<br>${dx.label} %{customdata[1]}<br>${dy.label} %{customdata[2]}<extra>front</extra>` });
      const best = front[0];
      rows.push(el("tr", { "data-job": job.id }, el("td", {}, el("span", { class: "swatch", style: `background:${color}` }), el("a", { href: `/ui/jobs/${job.id}` }, name)), el("td", {}, job.strategy), el("td", {}, String(job.candidates_done)), el("td", {}, String(front.length)), el("td", {}, best ? `${fmt(dy, best.metrics[y])} (candidate ${best.candidate})` : "–")));
    }
    document.getElementById("compare-table").replaceChildren(el("thead", {}, el("tr", {}, ["job", "strategy", "done", "on the front", `best ${dy.label}`].map((h) => el("th", {}, h)))), el("tbody", {}, rows));
    document.getElementById("compare-note").textContent = `Each job's front on ${dy.label} against ${dx.label}` + (left.length ? `; not shown, their metrics differ from job ${jobs[0].id}'s: ${left.map((j) => `#${j.id}`).join(", ")}` : "");
    const plot = document.getElementById("compare-plot");
    plot.dataset.jobs = String(shown.length);
    await Plotly.react(plot, traces, { margin: { t: 30, r: 10 }, xaxis: axisFor(dx), yaxis: axisFor(dy), legend: { orientation: "h", y: 1.12 }, hovermode: "closest" }, PLOT_OPTIONS);
  } catch (error) {
    showError(app, error);
  }
}

// ---- a job's page ----

async function jobPage(jobId) {
  const state = { job: null, candidates: [], lastEvent: null, x: null, y: null, selected: null, sort: { key: "candidate", up: true }, drawn: null };
  app.replaceChildren(
    el("section", { id: "job-head" }),
    el("section", { id: "job-progress", class: "panel" }),
    el("div", { class: "grid" },
      el("section", { class: "panel" }, el("h2", {}, "Pareto front"), el("div", { id: "pareto-controls", class: "controls" }), el("div", { id: "pareto", class: "plot" }), el("p", { class: "muted small", id: "pareto-caption" })),
      el("section", { class: "panel" }, el("h2", {}, "Best so far"), el("div", { id: "best-curve", class: "plot" }))),
    el("section", { class: "panel" }, el("h2", {}, "Architecture choices"), el("div", { id: "parcoords", class: "plot wide" })),
    el("div", { class: "grid" },
      el("section", { class: "panel" }, el("h2", {}, "Hypervolume"), el("div", { id: "hypervolume", class: "plot" }),
        el("p", { class: "muted small" }, "Share of the objective box the front dominates after each candidate (the box spans the best and worst value of each objective).")),
      el("section", { class: "panel" }, el("h2", {}, "What matters"), el("div", { id: "importance", class: "plot" }),
        el("p", { class: "muted small", id: "importance-note" }))),
    el("section", { class: "panel", id: "supernet-panel", hidden: true }, el("h2", {}, "Supernet training"), el("div", { id: "supernet-curve", class: "plot wide" })),
    el("section", { class: "panel", id: "selected-panel", hidden: true }),
    el("section", { class: "panel" }, el("h2", {}, "Candidates"), el("div", { class: "controls" },
      el("input", { id: "candidate-filter", type: "search", placeholder: "filter: id, arch id, status, error…", oninput: () => drawTable(state) }),
      el("select", { id: "candidate-status", onchange: () => drawTable(state) }, ["", "done", "running", "proposed", "failed"].map((s) => el("option", { value: s }, s || "any status"))),
      embedded ? null : el("a", { href: `/jobs/${jobId}/candidates?format=csv`, id: "download-csv" }, "Download CSV")),
      el("div", { class: "scroll" }, el("table", { id: "candidates", class: "data" }))),
    el("section", { class: "panel" }, el("h2", {}, "Events"), el("ol", { id: "events", class: "events" })));
  for (;;) {
    try {
      await refreshJob(jobId, state);
    } catch (error) {
      showError(document.getElementById("job-progress"), error);
    }
    if (embedded || (state.job && FINISHED.has(state.job.status) && state.finalDrawn)) return;
    if (state.job && FINISHED.has(state.job.status)) state.finalDrawn = true; // one more round after the end
    await sleep(POLL_MS);
  }
}

async function refreshJob(jobId, state) {
  const [job, candidates, events] = await Promise.all([source.job(jobId), source.candidates(jobId), source.events(state.lastEvent, jobId)]);
  state.job = job;
  state.candidates = candidates;
  drawHead(job);
  drawProgress(job, candidates);
  addEvents(events, state);
  const signature = candidates.map((c) => `${c.candidate}:${c.status}:${c.verified ? 1 : 0}`).join(",");
  const changed = signature !== state.drawn;
  if (changed) {
    state.drawn = signature;
    await drawPareto(state);
    drawBestCurve(state);
    drawParcoords(state);
    drawTable(state);
  }
  // The analysis follows the candidates, and the supernet's epochs while it trains.
  if (changed || events.some((e) => e.kind.startsWith("supernet"))) await drawAnalysis(state, await source.analysis(jobId));
}

function drawHead(job) {
  const head = document.getElementById("job-head");
  const task = typeof job.task === "string" ? job.task : job.task.dataset || job.task.path || job.task.name || JSON.stringify(job.task);
  const cancellable = !embedded && (job.status === "queued" || job.status === "running") && !job.cancel_requested;
  head.replaceChildren(
    el("h1", { id: "job-title" }, `${job.name} `, el("span", { class: "muted" }, `#${job.id}`), " ", statusBadge(job.status, "job-status")),
    el("p", { class: "muted" }, `${job.space}${job.preset ? ` (${job.preset})` : ""} on ${task} · ${job.strategy} · objectives ${job.objectives.map((o) => `${o.goal} ${o.metric}`).join(", ")}${job.owner ? ` · owner ${job.owner}` : ""}`),
    el("div", { class: "controls" },
      cancellable ? el("button", { id: "cancel", class: "danger", onclick: () => cancelJob(job.id) }, "Cancel job") : null,
      job.cancel_requested && !FINISHED.has(job.status) ? el("span", { class: "muted" }, "cancel requested…") : null,
      el("span", { id: "action-result", class: "muted" })));
}

async function cancelJob(jobId) {
  if (!confirm(`Cancel job ${jobId}? Finished candidates are kept.`)) return;
  const result = document.getElementById("action-result");
  try {
    const job = await api(`/jobs/${jobId}/cancel`, { method: "POST" });
    result.textContent = job.status === "cancelled" ? "cancelled" : "cancel requested: the coordinator stops at its next step";
  } catch (error) {
    result.textContent = `could not cancel: ${error.message}`;
  }
}

function drawProgress(job, candidates) {
  const done = job.counts.done + job.counts.failed, budget = job.budget.candidates;
  const rows = [];
  if (job.waiting) rows.push(el("p", { class: "warning" }, job.waiting));
  if (job.error) rows.push(el("p", { class: "error", id: "job-error" }, job.error));
  if (job.supernet) {
    const health = job.supernet.health;
    const healthText = health && !(job.supernet.message || "").includes("largest subnet") ? ` · largest subnet ${fmt(FRACTION, health.largest)}, smallest ${fmt(FRACTION, health.smallest)} (majority class ${fmt(FRACTION, health.majority_rate)})` : "";
    const p = job.supernet.progress;
    const bar = p && p.total_steps ? progressBar(p.step, p.total_steps) : null;
    rows.push(el("div", { class: "stage" }, el("b", {}, "Supernet "), el("span", { id: "supernet-state" }, job.supernet.state), " ", bar, el("span", { class: "muted" }, ` ${job.supernet.message || ""}${healthText}`)));
  }
  rows.push(el("div", { class: "stage" }, el("b", {}, "Candidates "), progressBar(done, budget), " ", el("span", { id: "done-count" }, String(done)), ` / ${budget}`,
    el("span", { class: "muted" }, ` (${job.counts.done} done, ${job.counts.failed} failed, ${job.counts.running} running)`)));
  for (const rung of job.rungs || []) {
    const best = rung.best_accuracy === null ? "" : ` · best ${fmt(FRACTION, rung.best_accuracy)}`;
    rows.push(el("div", { class: "stage rung" }, el("b", {}, `Rung ${rung.rung} `), `${rung.scored} scored`, el("span", { class: "muted" }, ` (${rung.fidelity}${rung.failed ? `, ${rung.failed} failed` : ""})${best}`)));
  }
  if (job.verify) rows.push(el("div", { class: "stage" }, el("b", {}, "Verified stage "), `${job.verify.state}: ${job.verify.verified}/${job.verify.top_k}`, el("span", { class: "muted" }, job.verify.message ? ` · ${job.verify.message}` : "")));
  const shown = display(job, primary(job));
  const best = job.best ? `${fmt(shown, job.best.metrics[primary(job)])} (candidate ${job.best.candidate})` : "–";
  const verified = job.best_verified ? ` · verified best ${fmt(FRACTION, job.best_verified.metrics.accuracy)} (candidate ${job.best_verified.candidate})` : "";
  const eta = job.eta ? ` · ${job.eta.stage} ends in ${job.eta.seconds === null ? "(estimating)" : `about ${duration(job.eta.seconds)}`}` : "";
  const chance = job.chance_accuracy !== null && job.chance_accuracy !== undefined ? ` · majority class ${fmt(FRACTION, job.chance_accuracy)}` : "";
  rows.push(el("p", {}, `Best ${shown.label} ${best}${verified}${chance}`));
  // The verified candidates against the plain family (nas/results/verdict.py), once the verified stage stated it.
  if (job.verdict) rows.push(el("p", { id: "verdict", class: `verdict ${job.verdict.beat ? "beat" : "not-beat"}` }, el("b", {}, "Verdict: "), job.verdict.text));
  // CPUs held times minutes per stage (nas/search/compute.py): what budget.cpu_minutes limits.
  const compute = job.compute && job.compute.stages.length
    ? ` · ${job.compute.stages.map((s) => `${s.stage} ${s.cpu_minutes.toFixed(1)}${s.running ? " so far" : ""}`).join(", ")} CPU-minutes`
      + (job.compute.budget ? ` of ${job.compute.budget} (the verified stage apart)` : "")
    : "";
  rows.push(el("p", { class: "muted", id: "timing" }, `elapsed ${duration(elapsed(job))}${eta}${compute}`));
  document.getElementById("job-progress").replaceChildren(...rows);
}

function addEvents(events, state) {
  const list = document.getElementById("events");
  for (const event of events) {
    state.lastEvent = event.id;
    list.append(el("li", { class: `event ${event.kind}` }, el("time", {}, new Date(event.at).toLocaleTimeString()), el("b", {}, ` ${event.kind} `), event.message));
  }
}

// The details of a metric (its interval, as nas/job/metrics.py's Metric.details) are shown with it, not on their own.
function detailNames(job) {
  return new Set(Object.values((job && job.metric_display) || {}).flatMap((shown) => shown.details || []));
}

function metricNames(candidates, job) {
  const names = new Set(), details = detailNames(job);
  for (const c of candidates) for (const [name, value] of Object.entries(c.metrics)) if (typeof value === "number" && !details.has(name)) names.add(name);
  return [...names];
}

// A value with how well it is known, as Metric.format_in: "1.23 ms ±2%".
function fmtIn(shown, values) {
  const value = values[shown.name], [low, high] = shown.details || [];
  const text = fmt(shown, value);
  if (!value || typeof values[low] !== "number" || typeof values[high] !== "number") return text;
  return `${text} ±${Math.round((100 * Math.max(value - values[low], values[high] - value)) / value)}%`;
}

function doneCandidates(state) {
  return state.candidates.filter((c) => c.status === "done");
}

async function drawPareto(state) {
  const job = state.job, done = doneCandidates(state);
  const controls = document.getElementById("pareto-controls");
  const names = metricNames(done, job);
  if (names.length < 2) {
    document.getElementById("pareto").replaceChildren(el("p", { class: "muted" }, "No candidate is done yet."));
    return;
  }
  if (state.x === null) {
    const objectives = job.objectives.map((o) => o.metric).filter((m) => names.includes(m));
    state.y = objectives[0] || names[0];
    state.x = objectives.find((m) => m !== state.y) || names.find((m) => m !== state.y);
  }
  if (!controls.childElementCount) {
    const select = (id, axis) => el("select", { id, onchange: (e) => { state[axis] = e.target.value; drawPareto(state); } }, names.map((m) => el("option", { value: m, selected: m === state[axis] }, m)));
    controls.replaceChildren(el("label", {}, "x ", select("pareto-x", "x")), el("label", {}, "y ", select("pareto-y", "y")));
  }
  const { x, y } = state;
  const front = new Set(await source.front(x, y, false, job.id));
  const verifiedFront = new Set(done.some((c) => c.verified) ? await source.front(x, y, true, job.id) : []);
  const has = (c) => typeof c.metrics[x] === "number" && typeof c.metrics[y] === "number";
  const points = done.filter(has);
  const dx = display(job, x), dy = display(job, y);
  const references = (await source.references(job.id)).filter((r) => r.trained && typeof r.metrics[x] === "number" && typeof r.metrics[y] === "number");
  document.getElementById("pareto-caption").textContent = `Circles: the search's scores (${job.score_source}); the marked line: the front on the two axes; diamonds: the verified stage's standalone training (validation accuracy)${references.length ? "; squares: the plain family, trained the same way" : ""}. Click a point to open the candidate.`;
  const hover = `candidate %{customdata[0]} (%{customdata[1]})<br>${dx.label} %{customdata[2]}<br>${dy.label} %{customdata[3]}<extra>%{fullData.name}</extra>`;
  const searchValue = (c, m) => c.metrics[m];
  const verifiedValue = (c, m) => (m === "accuracy" ? c.verified.val_accuracy : c.metrics[m]);
  const trace = (rows, name, marker, extra = {}, value = searchValue) => ({
    type: "scatter", mode: "markers", name, marker,
    x: rows.map((c) => value(c, x)), y: rows.map((c) => value(c, y)),
    customdata: rows.map((c) => [c.candidate, c.arch_id.slice(0, 10), fmt(x === "accuracy" && value === verifiedValue ? FRACTION : dx, value(c, x)), fmt(y === "accuracy" && value === verifiedValue ? FRACTION : dy, value(c, y))]),
    hovertemplate: hover, ...extra,
  });
  const others = points.filter((c) => !front.has(c.candidate));
  const onFront = points.filter((c) => front.has(c.candidate)).sort((a, b) => a.metrics[x] - b.metrics[x]);
  const verified = points.filter((c) => c.verified);
  const traces = [
    trace(others, "candidates", { color: "#9aa5b1", size: 8, opacity: 0.75 }),
    trace(onFront, "Pareto front", { color: "#d9480f", size: 11, symbol: "star" }, { mode: "lines+markers", line: { shape: "hv", color: "#d9480f" } }),
  ];
  if (verified.length) {
    traces.push(trace(verified, "verified (trained alone)", { color: "#1c7ed6", size: 11, symbol: verified.map((c) => (verifiedFront.has(c.candidate) ? "diamond" : "diamond-open")), line: { width: 2, color: "#1c7ed6" } }, {}, verifiedValue));
  }
  if (references.length) {
    // The plain family on the verified diamonds' scale (validation accuracy, the mean over seeds); hover gives the test accuracy with its interval.
    const referenceValue = (r, m) => (m === "accuracy" ? r.trained.val_accuracy : r.metrics[m]);
    traces.push({
      type: "scatter", mode: "markers+text", name: "plain family (trained alone)", marker: { color: "#212529", size: 11, symbol: "square-open", line: { width: 2 } }, cliponaxis: false,
      x: references.map((r) => referenceValue(r, x)), y: references.map((r) => referenceValue(r, y)), text: references.map((r) => r.name), textposition: "top center",
      customdata: references.map((r) => [r.name, `${fmt(FRACTION, r.trained.test_accuracy)} ± ${(100 * r.trained.half_width).toFixed(1)}% test, ${r.trained.seeds} seed${r.trained.seeds === 1 ? "" : "s"}`, fmtIn(dx, { ...r.metrics, accuracy: referenceValue(r, x) }), fmtIn(dy, { ...r.metrics, accuracy: referenceValue(r, y) })]),
      hovertemplate: `%{customdata[0]} (%{customdata[1]})<br>${dx.label} %{customdata[2]}<br>${dy.label} %{customdata[3]}<extra>%{fullData.name}</extra>`,
    });
  }
  const plot = document.getElementById("pareto");
  plot.dataset.points = String(points.length);
  plot.dataset.references = String(references.length);
  plot.dataset.front = String(onFront.length);
  state.onFront = front;
  drawTable(state);
  // The legend below the axes: above them it hid the best points, at the top of the plot.
  await Plotly.react(plot, traces, { margin: { t: 20, r: 10 }, xaxis: axisFor(dx), yaxis: { ...axisFor(dy), automargin: true }, legend: { orientation: "h", y: -0.25 }, hovermode: "closest" }, { displaylogo: false, responsive: true });
  if (!plot.dataset.clickable) {
    plot.dataset.clickable = "1";
    plot.on("plotly_click", (event) => openCandidate(state, event.points[0].customdata[0]));
  }
}

function openCandidate(state, candidateId) {
  if (!embedded) {
    location.href = candidateLink(state.job.id, candidateId);
    return;
  }
  const c = state.candidates.find((row) => row.candidate === candidateId);
  const panel = document.getElementById("selected-panel");
  panel.hidden = false;
  panel.replaceChildren(el("h2", { id: `candidate-${candidateId}` }, `Candidate ${candidateId}`), metricsTable(state.job, c), el("pre", { class: "arch" }, JSON.stringify(c.arch, null, 2)));
  panel.scrollIntoView();
}

function drawBestCurve(state) {
  const job = state.job, metric = primary(job), up = job.objectives[0].goal === "maximize", shown = display(job, metric);
  const finished = doneCandidates(state).filter((c) => typeof c.metrics[metric] === "number").sort((a, b) => a.candidate - b.candidate);
  const plot = document.getElementById("best-curve");
  if (!finished.length) {
    plot.replaceChildren(el("p", { class: "muted" }, "No candidate is done yet."));
    return;
  }
  let best = null;
  const bests = finished.map((c) => (best = best === null ? c.metrics[metric] : up ? Math.max(best, c.metrics[metric]) : Math.min(best, c.metrics[metric])));
  const order = finished.map((c) => c.candidate);
  Plotly.react(plot, [
    { type: "scatter", mode: "markers", name: "each candidate", x: order, y: finished.map((c) => c.metrics[metric]), marker: { color: "#9aa5b1", size: 6 }, customdata: finished.map((c) => [c.candidate, fmt(shown, c.metrics[metric])]), hovertemplate: `candidate %{customdata[0]}: %{customdata[1]}<extra></extra>` },
    { type: "scatter", mode: "lines", name: "best so far", x: order, y: bests, line: { shape: "hv", color: "#d9480f", width: 3 } },
  ], { margin: { t: 30, r: 10 }, xaxis: { title: { text: "candidate" } }, yaxis: axisFor(shown), legend: { orientation: "h", y: 1.12 } }, { displaylogo: false, responsive: true });
}

function drawParcoords(state) {
  const job = state.job, metric = primary(job), done = doneCandidates(state).filter((c) => c.features && typeof c.metrics[metric] === "number");
  const plot = document.getElementById("parcoords");
  if (done.length < 2) {
    plot.replaceChildren(el("p", { class: "muted" }, "Shown once two candidates are done."));
    return;
  }
  const features = Object.keys(done[0].features);
  const costs = metricNames(done, job).filter((m) => m !== metric && display(job, m).style !== "plain");
  // Axis ticks written as everywhere else (a cost axis says when it is logarithmic: parcoords has no log axes).
  const dimension = (label, values, shown) => {
    const low = Math.min(...values), high = Math.max(...values);
    const ticks = low === high ? [low] : [0, 0.25, 0.5, 0.75, 1].map((t) => low + t * (high - low));
    return { label, values, range: [low, high], tickvals: ticks, ticktext: ticks.map((v) => fmt(shown, v)) };
  };
  const dimensions = [
    ...features.map((f) => dimension(f, done.map((c) => c.features[f]), { style: "plain" })),
    ...costs.map((m) => dimension(display(job, m).label, done.map((c) => c.metrics[m]), display(job, m))),
    dimension(display(job, metric).label, done.map((c) => c.metrics[metric]), display(job, metric)),
  ];
  Plotly.react(plot, [{ type: "parcoords", dimensions, line: { color: done.map((c) => c.metrics[metric]), colorscale: "Viridis", showscale: true } }], { margin: { t: 40, l: 60, r: 60 } }, { displaylogo: false, responsive: true });
}

// ---- search analysis: hypervolume over candidates, feature importance, supernet training ----

const PLOT_OPTIONS = { displaylogo: false, responsive: true };

async function drawAnalysis(state, analysis) {
  const job = state.job;
  const hv = document.getElementById("hypervolume");
  if (analysis.hypervolume.length) {
    hv.dataset.points = String(analysis.hypervolume.length);
    await Plotly.react(hv, [{ type: "scatter", mode: "lines", line: { shape: "hv", color: "#d9480f", width: 3 }, x: analysis.hypervolume.map((p) => p.candidate), y: analysis.hypervolume.map((p) => p.hypervolume), hovertemplate: "after candidate %{x}: %{y:.1%}<extra></extra>" }],
      { margin: { t: 30, r: 10 }, xaxis: { title: { text: "candidate" } }, yaxis: { title: { text: `hypervolume on ${analysis.objectives.map((m) => display(job, m).label).join(", ")} (%)` }, tickformat: ".0%", range: [0, 1] } }, PLOT_OPTIONS);
  } else hv.replaceChildren(el("p", { class: "muted" }, "No candidate is done yet."));
  const importance = document.getElementById("importance"), features = analysis.importance.features;
  const target = display(job, analysis.importance.target);
  document.getElementById("importance-note").textContent = `How much each architecture feature explains ${target.label}: a random forest's importances over the done candidates (shares summing to 100%).`;
  if (features.length) {
    importance.dataset.features = String(features.length);
    await Plotly.react(importance, [{ type: "bar", orientation: "h", x: features.map((f) => f.importance).reverse(), y: features.map((f) => f.feature).reverse(), marker: { color: "#1c7ed6" }, hovertemplate: "%{y}: %{x:.1%}<extra></extra>" }],
      { margin: { t: 30, r: 10, l: 120 }, xaxis: { title: { text: `share of ${target.label} explained (%)` }, tickformat: ".0%" } }, PLOT_OPTIONS);
  } else importance.replaceChildren(el("p", { class: "muted" }, "Shown once 8 candidates are done."));
  const panel = document.getElementById("supernet-panel"), curve = analysis.supernet;
  panel.hidden = !curve.length;
  if (curve.length) {
    const withHealth = curve.filter((p) => p.largest !== null);
    const traces = [{ type: "scatter", mode: "lines+markers", name: "training loss", x: curve.map((p) => p.step), y: curve.map((p) => p.loss), line: { color: "#495057" }, hovertemplate: "step %{x}: loss %{y:.4f}<extra></extra>" }];
    for (const [key, name, color] of [["largest", "largest subnet (validation)", "#2f9e44"], ["smallest", "smallest subnet (validation)", "#1c7ed6"], ["majority_rate", "majority class (chance)", "#868e96"]]) {
      traces.push({ type: "scatter", mode: "lines+markers", name, yaxis: "y2", x: withHealth.map((p) => p.step), y: withHealth.map((p) => p[key]), line: { color, dash: key === "majority_rate" ? "dot" : "solid" }, customdata: withHealth.map((p) => fmt(FRACTION, p[key])), hovertemplate: `${name}, step %{x}: %{customdata}<extra></extra>` });
    }
    const plot = document.getElementById("supernet-curve");
    plot.dataset.points = String(curve.length);
    await Plotly.react(plot, traces, { margin: { t: 30, r: 60 }, xaxis: { title: { text: "optimizer step" } }, yaxis: { title: { text: "loss" } }, yaxis2: { title: { text: FRACTION.axis_title }, overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1], tickmode: "linear", tick0: 0, dtick: 0.2, showgrid: false }, legend: { orientation: "h", y: 1.15 } }, PLOT_OPTIONS);
  }
}

function tableColumns(state) {
  const metrics = metricNames(state.candidates, state.job);
  return [
    { key: "candidate", label: "candidate", value: (c) => c.candidate },
    { key: "front", label: "front", value: (c) => (state.onFront && state.onFront.has(c.candidate) ? 1 : 0), show: (v) => (v ? "★" : "") },
    { key: "status", label: "status", value: (c) => c.status },
    { key: "arch_id", label: "arch", value: (c) => c.arch_id.slice(0, 10) },
    ...metrics.map((m) => ({ key: m, label: display(state.job, m).label, value: (c) => c.metrics[m], show: (v, c) => fmtIn(display(state.job, m), c.metrics) })),
    { key: "verified_val", label: "verified val", value: (c) => (c.verified ? c.verified.val_accuracy : null), show: (v) => fmt(FRACTION, v) },
    { key: "verified_test", label: "verified test", value: (c) => (c.verified ? c.verified.test_accuracy : null), show: (v) => fmt(FRACTION, v) },
    { key: "eval_seconds", label: "eval s", value: (c) => c.eval_seconds, show: (v) => (v === null ? "–" : v.toFixed(2)) },
  ];
}

function drawTable(state) {
  const columns = tableColumns(state);
  const text = document.getElementById("candidate-filter").value.trim().toLowerCase();
  const wanted = document.getElementById("candidate-status").value;
  const rows = state.candidates.filter((c) => (!wanted || c.status === wanted) && (!text || [c.candidate, c.arch_id, c.status, c.error || ""].join(" ").toLowerCase().includes(text)));
  const column = columns.find((c) => c.key === state.sort.key) || columns[0];
  const order = state.sort.up ? 1 : -1;
  rows.sort((a, b) => {
    const va = column.value(a), vb = column.value(b);
    if (va === vb) return a.candidate - b.candidate;
    if (va === null || va === undefined) return 1;
    if (vb === null || vb === undefined) return -1;
    return (va < vb ? -1 : 1) * order;
  });
  const head = el("tr", {}, columns.map((c) => el("th", {
    "data-key": c.key, class: c.key === state.sort.key ? (state.sort.up ? "sorted up" : "sorted down") : null,
    onclick: () => { state.sort = { key: c.key, up: state.sort.key === c.key ? !state.sort.up : true }; drawTable(state); },
  }, c.label)));
  const body = rows.map((c) => el("tr", { "data-candidate": c.candidate, class: c.status, onclick: () => openCandidate(state, c.candidate), title: c.error || null },
    columns.map((col) => el("td", {}, col.show ? col.show(col.value(c), c) : col.value(c)))));
  document.getElementById("candidates").replaceChildren(el("thead", {}, head), el("tbody", {}, body));
}

function metricsTable(job, c) {
  const rows = Object.entries(c.metrics).map(([m, v]) => el("tr", {}, el("th", { title: display(job, m).description }, display(job, m).label), el("td", {}, fmt(display(job, m), v))));
  if (c.verified) {
    rows.push(el("tr", {}, el("th", {}, "verified val accuracy"), el("td", {}, fmt(FRACTION, c.verified.val_accuracy))));
    const spread = typeof c.verified.half_width === "number" ? ` ± ${(100 * c.verified.half_width).toFixed(2)} points` : "";
    const seeds = c.verified.seeds > 1 ? ` (mean of ${c.verified.seeds} seeds)` : "";
    rows.push(el("tr", {}, el("th", {}, "verified test accuracy"), el("td", {}, `${fmt(FRACTION, c.verified.test_accuracy)}${spread}${seeds}`)));
    rows.push(el("tr", {}, el("th", {}, "verified training"), el("td", {}, `${c.verified.init}, best epoch ${c.verified.best_epoch} of ${c.verified.epochs_trained}`)));
  }
  for (const [f, v] of Object.entries(c.features || {})) rows.push(el("tr", { class: "muted" }, el("th", {}, f), el("td", {}, Number.isInteger(v) ? v : v.toFixed(2))));
  return el("table", { class: "data metrics", id: "candidate-metrics" }, el("tbody", {}, rows));
}

// ---- a candidate's page ----

async function candidatePage(jobId, candidateId) {
  try {
    const [job, c] = await Promise.all([api(`/jobs/${jobId}`), api(`/jobs/${jobId}/candidates/${candidateId}`)]);
    const formats = boot.export_formats;
    const exportForm = !job.exportable
      ? el("p", { class: "muted", id: "no-export" }, `This job's results come from a table (${job.score_source}): it has no trained weights to export.`)
      : c.status === "done"
      ? el("div", { class: "controls" },
          el("label", {}, "format ", el("select", { id: "export-format" }, formats.map((f) => el("option", { value: f }, f)))),
          el("label", {}, "fine-tune epochs ", el("input", { id: "export-finetune", type: "number", min: "0", value: "0" })),
          el("button", { id: "export-button", onclick: () => exportCandidate(jobId, candidateId) }, "Export and download"),
          el("span", { id: "export-result", class: "muted" }))
      : el("p", { class: "muted" }, `Only a done candidate can be exported (this one is ${c.status}).`);
    app.replaceChildren(
      el("h1", {}, `Candidate ${c.candidate} `, el("span", { class: "muted" }, `of job `), el("a", { href: `/ui/jobs/${jobId}` }, `${job.name} #${jobId}`)),
      el("p", { class: "muted" }, `arch ${c.arch_id} · ${c.status}${c.error ? ` · ${c.error}` : ""}`),
      el("div", { class: "grid" },
        el("section", { class: "panel" }, el("h2", {}, "Metrics"), metricsTable(job, c), el("h2", {}, "Export"), exportForm),
        el("section", { class: "panel" }, el("h2", {}, "Architecture"), el("pre", { class: "arch", id: "arch-json" }, JSON.stringify(c.arch, null, 2)))),
      el("section", { class: "panel" }, el("h2", {}, "Computation graph"), el("div", { class: "scroll graph" }, drawGraph(c.graph))));
  } catch (error) {
    showError(app, error);
  }
}

async function exportCandidate(jobId, candidateId) {
  const button = document.getElementById("export-button"), result = document.getElementById("export-result");
  const epochs = Number(document.getElementById("export-finetune").value || 0);
  button.disabled = true;
  result.textContent = epochs ? `fine-tuning ${epochs} epoch${epochs === 1 ? "" : "s"} and exporting…` : "exporting…";
  try {
    const body = { candidate: candidateId, format: document.getElementById("export-format").value, finetune_epochs: epochs };
    const exported = await api(`/jobs/${jobId}/export`, { method: "POST", body: JSON.stringify(body) });
    const m = exported.metrics || {};
    const test = typeof m.test_accuracy === "number" ? ` validation accuracy ${fmt(FRACTION, m.val_accuracy)}, test accuracy ${fmt(FRACTION, m.test_accuracy)};` : "";
    result.replaceChildren(`exported:${test} `, el("a", { id: "export-download", href: `/artifacts/${exported.artifact_id}`, download: `candidate-${candidateId}-${body.format}.tar.gz` }, "download .tar.gz"));
    document.getElementById("export-download").click();
  } catch (error) {
    result.textContent = `export failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

const KIND_COLORS = { input: "#495057", stem: "#495057", head: "#1c7ed6", attn: "#1c7ed6", ff: "#2f9e44", mlp: "#2f9e44", add_norm: "#868e96", add: "#868e96", output: "#d9480f" };

function drawGraph(graph) {
  // Layers top to bottom, the nodes of a layer side by side; edges as straight lines.
  const NS = "http://www.w3.org/2000/svg", W = 150, H = 26, GAP_X = 16, GAP_Y = 30;
  const layers = new Map();
  for (const node of graph.nodes) layers.set(node.layer, [...(layers.get(node.layer) || []), node]);
  const widest = Math.max(...[...layers.values()].map((l) => l.length));
  const width = widest * (W + GAP_X) + GAP_X + 2 * W, height = layers.size * (H + GAP_Y) + GAP_Y;
  const where = new Map();
  for (const [layer, nodes] of layers) {
    const offset = (width - nodes.length * (W + GAP_X) + GAP_X) / 2;
    nodes.forEach((node, i) => where.set(node.id, { x: offset + i * (W + GAP_X), y: GAP_Y + layer * (H + GAP_Y) }));
  }
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("id", "arch-graph");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    svg.append(node);
    return node;
  };
  const layerOf = new Map(graph.nodes.map((n) => [n.id, n.layer]));
  for (const [from, to] of graph.edges) {
    const a = where.get(from), b = where.get(to);
    if (layerOf.get(to) - layerOf.get(from) > 1 && a.x === b.x) {
      // A skip connection past the nodes between: curved out to the right, not drawn through them.
      const bend = W + 18 + 6 * (layerOf.get(to) - layerOf.get(from));
      add("path", { d: `M ${a.x + W} ${a.y + H / 2} C ${a.x + bend} ${a.y + H / 2}, ${b.x + bend} ${b.y + H / 2}, ${b.x + W} ${b.y + H / 2}`, class: "edge skip" });
    } else {
      add("line", { x1: a.x + W / 2, y1: a.y + H, x2: b.x + W / 2, y2: b.y, class: "edge" });
    }
  }
  for (const node of graph.nodes) {
    const p = where.get(node.id);
    const group = add("g", { class: "node", "data-node": node.id });
    const rect = document.createElementNS(NS, "rect");
    for (const [k, v] of Object.entries({ x: p.x, y: p.y, width: W, height: H, rx: 5, fill: KIND_COLORS[node.kind] || "#5f3dc4" })) rect.setAttribute(k, v);
    const label = document.createElementNS(NS, "text");
    for (const [k, v] of Object.entries({ x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle" })) label.setAttribute(k, v);
    label.textContent = node.op.length > 22 ? `${node.op.slice(0, 21)}…` : node.op;
    const title = document.createElementNS(NS, "title");
    title.textContent = `${node.id}: ${node.op}`;
    group.append(rect, label, title);
  }
  return svg;
}

// ---- which page ----

if (boot.page === "jobs") jobsPage();
else if (boot.page === "compare") comparePage(boot.jobs);
else if (boot.page === "job") jobPage(boot.job_id);
else if (boot.page === "candidate") candidatePage(boot.job_id, boot.candidate);
