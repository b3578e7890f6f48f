// Conversations list and detail, campaigns: read-only views over /v1.
"use strict";

(() => {
  const { api, el, setStatus, when, $ } = window.sdr;

  function dayStartUnix(value, endOfDay) {
    if (!value) return null;
    const date = new Date(value + (endOfDay ? "T23:59:59" : "T00:00:00"));
    return Math.floor(date.getTime() / 1000);
  }

  async function conversations() {
    const agents = await api("/v1/convai/agents?page_size=100");
    const select = $("#filter-agent");
    for (const agent of agents.agents) select.append(el("option", { value: agent.agent_id, text: agent.name }));
    const params = new URLSearchParams(location.search);
    for (const [name, id] of [["agent_id", "#filter-agent"], ["status", "#filter-status"], ["from", "#filter-from"],
      ["to", "#filter-to"]]) if (params.get(name)) $(id).value = params.get(name);
    let cursor = null;
    const tbody = $("#conversations-table tbody");

    async function load(reset) {
      if (reset) { tbody.replaceChildren(); cursor = null; }
      const query = new URLSearchParams({ page_size: "50" });
      if ($("#filter-agent").value) query.set("agent_id", $("#filter-agent").value);
      const after = dayStartUnix($("#filter-from").value, false);
      const before = dayStartUnix($("#filter-to").value, true);
      if (after) query.set("call_start_after_unix", String(after));
      if (before) query.set("call_start_before_unix", String(before));
      if (cursor) query.set("cursor", cursor);
      const body = await api("/v1/convai/conversations?" + query);
      // Status is filtered here: the API filters by agent and date, the console adds status on top.
      const status = $("#filter-status").value;
      for (const conv of body.conversations.filter((c) => !status || c.status === status)) {
        tbody.append(el("tr", {},
          el("td", { text: when(conv.start_time_unix_secs) }), el("td", { text: conv.agent_name || "" }),
          el("td", { text: conv.status }),
          el("td", {}, el("span", { className: `badge ${conv.call_successful}`, text: conv.call_successful })),
          el("td", { text: `${conv.call_duration_secs} s` }), el("td", { text: String(conv.message_count) }),
          el("td", {}, el("a", { href: `/console/conversations/${conv.conversation_id}`,
            text: conv.call_summary_title || conv.conversation_id,
            "aria-label": `Open conversation ${conv.conversation_id}` }))));
      }
      cursor = body.has_more ? body.next_cursor : null;
      $("#more").hidden = !cursor;
      $("#conversations-empty").hidden = tbody.children.length > 0;
    }

    $("#filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      for (const [name, id] of [["agent_id", "#filter-agent"], ["status", "#filter-status"],
        ["from", "#filter-from"], ["to", "#filter-to"]]) if ($(id).value) query.set(name, $(id).value);
      history.replaceState(null, "", "?" + query);
      load(true).catch((error) => setStatus(error.message, true));
    });
    $("#more").addEventListener("click", () => load(false).catch((error) => setStatus(error.message, true)));
    await load(true);
  }

  function toolText(turn) {
    const lines = [];
    for (const call of turn.tool_calls || []) {
      lines.push(`→ ${call.tool_name || call.name}(${call.params_as_json || JSON.stringify(call.parameters || {})})`);
    }
    for (const result of turn.tool_results || []) {
      lines.push(`← ${result.tool_name || ""}: ${result.result_value ?? result.result ?? ""}${result.is_error ? " (error)" : ""}`);
    }
    return lines.join("\n");
  }

  function latencyChart(turns) {
    const svg = $("#latency-chart");
    const ns = "http://www.w3.org/2000/svg";
    const timed = turns.map((t, i) => ({ i, role: t.role, ms: t.conversation_turn_metrics?.latency_ms }))
      .filter((t) => t.role !== "user" && typeof t.ms === "number");
    if (!timed.length) return;
    const max = Math.max(...timed.map((t) => t.ms), 1);
    const width = svg.clientWidth || 600;
    const barWidth = Math.max(6, Math.min(40, (width - 20) / timed.length - 6));
    timed.forEach((turn, n) => {
      const height = Math.round((turn.ms / max) * 100);
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(10 + n * (barWidth + 6)));
      rect.setAttribute("y", String(110 - height));
      rect.setAttribute("width", String(barWidth));
      rect.setAttribute("height", String(height));
      const title = document.createElementNS(ns, "title");
      title.textContent = `turn ${turn.i + 1}: ${Math.round(turn.ms)} ms`;
      rect.append(title);
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", String(10 + n * (barWidth + 6)));
      label.setAttribute("y", "128");
      label.textContent = String(Math.round(turn.ms));
      svg.append(rect, label);
    });
    const values = timed.map((t) => Math.round(t.ms));
    $("#latency-caption").textContent =
      `Reply latency of ${values.length} agent turn(s), in ms: ${values.join(", ")} (highest ${Math.round(max)}).`;
  }

  async function conversation() {
    const id = document.body.dataset.conversationId;
    const conv = await api(`/v1/convai/conversations/${id}`);
    const meta = conv.metadata || {};
    const kind = meta.web_call ? `web (${meta.web_call.mode})` : meta.phone_call ? "phone" : "";
    const facts = [["Agent", conv.agent_name || conv.agent_id], ["Conversation", id], ["Status", conv.status],
      ["Channel", kind], ["Started", when(meta.start_time_unix_secs)],
      ["Duration", `${meta.call_duration_secs ?? 0} s`], ["Ended because", meta.termination_reason || ""]];
    const list = $("#summary");
    for (const [name, value] of facts) list.append(el("dt", { text: name }), el("dd", { text: value || "" }));
    const items = $("#transcript");
    for (const turn of conv.transcript) {
      const who = turn.role === "agent" ? "Agent" : "Caller";
      const item = el("li", { className: turn.role },
        el("span", { className: "who", text: `${who} · ${turn.time_in_call_secs} s` }),
        el("span", { text: turn.message || "" }));
      if (turn.interrupted) item.append(" ", el("span", { className: "interrupted", text: "(interrupted)" }));
      const tools = toolText(turn);
      if (tools) item.append(el("div", { className: "tool", text: tools }));
      items.append(item);
    }
    latencyChart(conv.transcript);
    const analysis = conv.analysis;
    const box = $("#analysis");
    if (!analysis) box.append(el("p", { className: "hint", text: "Not analysed yet." }));
    else {
      const dl = el("dl", { className: "facts" });
      dl.append(el("dt", { text: "Result" }), el("dd", {}, el("span", {
        className: `badge ${analysis.call_successful}`, text: analysis.call_successful })));
      dl.append(el("dt", { text: "Summary" }), el("dd", { text: analysis.transcript_summary || "" }));
      for (const [name, result] of Object.entries(analysis.evaluation_criteria_results || {})) {
        dl.append(el("dt", { text: name }), el("dd", { text: `${result.result}: ${result.rationale || ""}` }));
      }
      for (const [name, result] of Object.entries(analysis.data_collection_results || {})) {
        dl.append(el("dt", { text: name }), el("dd", { text: String(result.value ?? "") }));
      }
      box.append(dl);
    }
    const audio = $("#recording");
    if (conv.has_audio) {
      // <audio src> cannot send xi-api-key, so the WAV is fetched with it and played from a blob URL.
      const response = await api(`/v1/convai/conversations/${id}/audio`, { raw: true });
      audio.src = URL.createObjectURL(await response.blob());
    } else {
      audio.hidden = true;
      $("#no-audio").hidden = false;
    }
  }

  async function campaigns() {
    let body;
    try {
      body = await api("/v1/convai/batch-calling/workspace?limit=100");
    } catch (error) {
      if (error.status === 404 || error.status === 405) { $("#campaigns-missing").hidden = false; return; }
      throw error;
    }
    const tbody = $("#campaigns-table tbody");
    const batches = body.batch_calls || [];
    for (const batch of batches) {
      const done = batch.total_calls_finished ?? 0;
      const total = batch.total_calls_scheduled || batch.total_calls_dispatched || 0;
      const outcomes = el("td", { text: "…" });
      tbody.append(el("tr", {}, el("td", { text: batch.name }), el("td", { text: batch.agent_name || "" }),
        el("td", { text: batch.status }),
        el("td", {}, el("progress", { max: String(total || 1), value: String(done),
          "aria-label": `${batch.name}: ${done} of ${total} calls finished` }), ` ${done}/${total}`),
        outcomes, el("td", { text: when(batch.scheduled_time_unix) })));
      batch.outcomesCell = outcomes;
    }
    // Outcomes are per recipient: one request per campaign, for the first 20 shown.
    await Promise.all(batches.slice(0, 20).map(async (batch) => {
      const detail = await api(`/v1/convai/batch-calling/${batch.id}`).catch(() => null);
      const counts = {};
      for (const recipient of detail?.recipients || []) counts[recipient.status] = (counts[recipient.status] || 0) + 1;
      batch.outcomesCell.textContent = Object.entries(counts).map(([status, n]) => `${status}: ${n}`).join(", ")
        || "no recipients";
    }));
    for (const batch of batches.slice(20)) batch.outcomesCell.textContent = "";
    $("#campaigns-empty").hidden = tbody.children.length > 0;
  }

  window.sdrPages = { conversations, conversation, campaigns };
})();
