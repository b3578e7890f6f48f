// sdr-agent console: the API key lives in sessionStorage and goes out as xi-api-key; pages are shells that
// fetch their data from /v1. No framework, no CDN.
"use strict";

const KEY = "sdr-agent.api-key";
const $ = (sel) => document.querySelector(sel);
const page = document.body.dataset.page;

function apiKey() { return sessionStorage.getItem(KEY); }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function setStatus(text, bad = false) {
  const status = $("#status");
  status.textContent = text || "";
  status.classList.toggle("bad", bad);
}

class ApiError extends Error {
  constructor(status, body) {
    super(typeof body?.detail === "string" ? body.detail : `request failed (${status})`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ "xi-api-key": apiKey() || "" }, options.headers || {});
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
  if (response.status === 401) {
    sessionStorage.removeItem(KEY);
    location.assign("/console/login?next=" + encodeURIComponent(location.pathname));
    throw new ApiError(401, { detail: "not logged in" });
  }
  if (options.raw) {
    if (!response.ok) throw new ApiError(response.status, null);
    return response;
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function when(unix) {
  return unix ? new Date(unix * 1000).toLocaleString() : "";
}

// ---------------------------------------------------------------- login
function initLogin() {
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    const error = $("#api-key-error");
    error.textContent = "";
    if (!key) { error.textContent = "Enter an API key."; $("#api-key").focus(); return; }
    const response = await fetch("/v1/convai/agents?page_size=1", { headers: { "xi-api-key": key } });
    if (!response.ok) { error.textContent = "This key was not accepted."; $("#api-key").focus(); return; }
    sessionStorage.setItem(KEY, key);
    const next = new URLSearchParams(location.search).get("next");
    location.assign(next && next.startsWith("/console/") ? next : "/console/agents");
  });
}

// ---------------------------------------------------------------- agents
async function initAgents() {
  const body = await api("/v1/convai/agents?page_size=100");
  const tbody = $("#agents-table tbody");
  for (const agent of body.agents) {
    const actions = el("td", { className: "actions" },
      el("a", { href: `/console/agents/${agent.agent_id}`, text: "Edit", "aria-label": `Edit ${agent.name}` }),
      el("a", { href: `/console/agents/${agent.agent_id}/talk`, text: "Talk to this agent",
        "aria-label": `Talk to ${agent.name}` }));
    tbody.append(el("tr", {}, el("td", { text: agent.name || "(unnamed)" }),
      el("td", {}, el("code", { text: agent.agent_id })), el("td", { text: when(agent.created_at_unix_secs) }),
      actions));
  }
  $("#agents-empty").hidden = body.agents.length > 0;
}

const FIELDS = ["name", "first_message", "system_prompt", "voice_id", "language", "turn_timeout",
  "end_silence_ms", "knowledge_base"];

function clearErrors() {
  for (const name of FIELDS) $(`#f-${name}-error`).textContent = "";
  $("#form-error").textContent = "";
}

function fieldError(name, message) {
  const target = $(`#f-${name}-error`);
  if (!target) { $("#form-error").textContent = message; return; }
  target.textContent = message;
  const input = $(`#f-${name}`);
  input?.setAttribute("aria-invalid", "true");
}

function validate(values) {
  const errors = {};
  if (!values.name.trim()) errors.name = "Give the agent a name.";
  if (values.language && !/^[a-z]{2}(-[A-Za-z]{2})?$/.test(values.language)) {
    errors.language = "Use a language code such as en or pt-BR.";
  }
  if (values.turn_timeout !== "" && !(Number(values.turn_timeout) >= 1 && Number(values.turn_timeout) <= 300)) {
    errors.turn_timeout = "Between 1 and 300 seconds.";
  }
  if (values.end_silence_ms !== "" &&
      !(Number(values.end_silence_ms) >= 100 && Number(values.end_silence_ms) <= 3000)) {
    errors.end_silence_ms = "Between 100 and 3000 ms.";
  }
  return errors;
}

function formValues() {
  const value = (name) => $(`#f-${name}`).value;
  return {
    name: value("name"), first_message: value("first_message"), system_prompt: value("system_prompt"),
    voice_id: value("voice_id"), language: value("language").trim(), turn_timeout: value("turn_timeout"),
    end_silence_ms: value("end_silence_ms"), interrupt_enabled: $("#f-interrupt_enabled").checked,
    documents: [...document.querySelectorAll("#f-knowledge_base input:checked")].map((box) => (
      { type: box.dataset.type || "text", id: box.value, name: box.dataset.name })),
  };
}

function agentPayload(values) {
  const turn = { interrupt_enabled: values.interrupt_enabled };
  if (values.turn_timeout !== "") turn.turn_timeout = Number(values.turn_timeout);
  if (values.end_silence_ms !== "") turn.end_silence_ms = Number(values.end_silence_ms);
  const agent = { first_message: values.first_message,
    prompt: { prompt: values.system_prompt, knowledge_base: values.documents } };
  if (values.language) agent.language = values.language;
  const config = { agent, turn };
  if (values.voice_id) config.tts = { voice_id: values.voice_id };
  return { name: values.name.trim(), conversation_config: config };
}

async function initAgentEdit() {
  const agentId = document.body.dataset.agentId;
  // The handler comes first: a click on Save while the agent is still loading must not submit the form.
  $("#agent-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const values = formValues();
    const errors = validate(values);
    for (const [name, message] of Object.entries(errors)) fieldError(name, message);
    if (Object.keys(errors).length) { $(`#f-${Object.keys(errors)[0]}`).focus(); return; }
    try {
      const payload = agentPayload(values);
      if (agentId) {
        await api(`/v1/convai/agents/${agentId}`, { method: "PATCH", json: payload });
        setStatus("Saved.");
      } else {
        const created = await api("/v1/convai/agents/create", { method: "POST", json: payload });
        location.assign(`/console/agents/${created.agent_id}?created=1`);
      }
    } catch (error) {
      if (error.status === 422 && Array.isArray(error.body?.detail)) {
        for (const item of error.body.detail) {
          const loc = (item.loc || []).filter((p) => typeof p === "string");
          const name = loc.map((p) => (p === "prompt" ? "system_prompt" : p)).reverse()
            .find((p) => FIELDS.includes(p));
          fieldError(name || "form", item.msg || "invalid value");
        }
      } else {
        $("#form-error").textContent = error.message;
      }
    }
  });
  const docs = await api("/v1/convai/knowledge-base?page_size=100").catch(() => ({ documents: [] }));
  let attached = new Set();
  if (agentId) {
    const agent = await api(`/v1/convai/agents/${agentId}`);
    const cfg = agent.conversation_config || {};
    $("#f-name").value = agent.name || "";
    $("#f-first_message").value = cfg.agent?.first_message || "";
    $("#f-system_prompt").value = cfg.agent?.prompt?.prompt || "";
    $("#f-voice_id").value = cfg.tts?.voice_id || "";
    $("#f-language").value = cfg.agent?.language || "";
    $("#f-turn_timeout").value = cfg.turn?.turn_timeout ?? "";
    $("#f-end_silence_ms").value = cfg.turn?.end_silence_ms ?? "";
    $("#f-interrupt_enabled").checked = cfg.turn?.interrupt_enabled !== false;
    attached = new Set((cfg.agent?.prompt?.knowledge_base || []).map((d) => d.id));
    const talk = $("#talk-link");
    talk.href = `/console/agents/${agentId}/talk`;
    talk.hidden = false;
  }
  const box = $("#f-knowledge_base");
  for (const doc of docs.documents || []) {
    const id = `kb-${doc.id}`;
    const input = el("input", { type: "checkbox", id, value: doc.id });
    input.dataset.name = doc.name || doc.id;
    input.dataset.type = doc.type || "text";
    input.checked = attached.has(doc.id);
    box.append(el("div", { className: "check" }, input, el("label", { for: id, text: doc.name || doc.id })));
  }
  if (!box.children.length) box.append(el("p", { className: "hint", text: "No documents uploaded yet." }));

  if (new URLSearchParams(location.search).get("created")) setStatus("Agent created.");
}

window.sdr = { api, apiKey, el, setStatus, when, $ };

async function boot() {
  if (page !== "login" && !apiKey()) {
    location.assign("/console/login?next=" + encodeURIComponent(location.pathname));
    return;
  }
  if (apiKey()) {
    const logout = $("#logout");
    logout.hidden = false;
    logout.addEventListener("click", () => { sessionStorage.removeItem(KEY); location.assign("/console/login"); });
  }
  const pages = { login: initLogin, agents: initAgents, "agent-edit": initAgentEdit,
    conversations: () => window.sdrPages.conversations(), conversation: () => window.sdrPages.conversation(),
    campaigns: () => window.sdrPages.campaigns(), talk: () => window.sdrPages.talk() };
  try {
    await (pages[page] || (() => {}))();
  } catch (error) {
    if (error.status !== 401) setStatus(error.message, true);
  }
  document.body.dataset.ready = "true";  // the page has its data and its handlers (tests wait for this)
}

document.addEventListener("DOMContentLoaded", boot);
