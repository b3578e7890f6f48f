// "Talk to this agent": the ElevenLabs realtime protocol from the browser. Microphone → 16 kHz PCM chunks →
// {"user_audio_chunk"}; agent audio (pcm_16000) is scheduled on a Web Audio clock; an interruption event stops
// what is queued and drops late audio whose event_id is not above it (barge-in).
"use strict";

(() => {
  const { api, el, setStatus, $ } = window.sdr;
  const RATE = 16000;
  const state = { ws: null, ctx: null, mic: null, processor: null, playAt: 0, sources: [],
    lastInterrupt: 0, conversationId: null, lastAgentItem: null };

  function addLine(role, text, extra) {
    const who = role === "agent" ? "Agent" : "You";
    const item = el("li", { className: role }, el("span", { className: "who", text: who }),
      el("span", { className: "text", text }));
    if (extra) item.append(" ", el("span", { className: "interrupted", text: extra }));
    $("#transcript").append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function toBase64(bytes) {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function stopPlayback() {
    for (const source of state.sources) { try { source.stop(); } catch (_) { /* already ended */ } }
    state.sources = [];
    state.playAt = state.ctx ? state.ctx.currentTime : 0;
  }

  function play(base64) {
    if (!state.ctx) return;
    const raw = atob(base64);
    const samples = new Float32Array(raw.length >> 1);
    for (let i = 0; i < samples.length; i++) {
      let v = raw.charCodeAt(2 * i) | (raw.charCodeAt(2 * i + 1) << 8);
      if (v >= 0x8000) v -= 0x10000;
      samples[i] = v / 32768;
    }
    const buffer = state.ctx.createBuffer(1, samples.length, RATE);
    buffer.copyToChannel(samples, 0);
    const source = state.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(state.ctx.destination);
    const at = Math.max(state.playAt, state.ctx.currentTime + 0.03);
    source.start(at);
    state.playAt = at + buffer.duration;
    state.sources.push(source);
    source.onended = () => { state.sources = state.sources.filter((s) => s !== source); };
  }

  function onMessage(message) {
    switch (message.type) {
      case "conversation_initiation_metadata":
        state.conversationId = message.conversation_initiation_metadata_event.conversation_id;
        setStatus("Connected.");
        break;
      case "audio": {
        const event = message.audio_event;
        if (Number(event.event_id) > state.lastInterrupt) play(event.audio_base_64);
        break;
      }
      case "interruption":
        state.lastInterrupt = Number(message.interruption_event.event_id);
        stopPlayback();
        break;
      case "agent_response":
        state.lastAgentItem = addLine("agent", message.agent_response_event.agent_response);
        break;
      case "agent_response_correction":
        if (state.lastAgentItem) {
          state.lastAgentItem.querySelector(".text").textContent =
            message.agent_response_correction_event.corrected_agent_response;
          state.lastAgentItem.append(" ", el("span", { className: "interrupted", text: "(interrupted)" }));
        }
        break;
      case "user_transcript":
        addLine("user", message.user_transcription_event.user_transcript);
        break;
      case "ping":
        send({ type: "pong", event_id: message.ping_event.event_id });
        break;
      case "client_tool_call":
        // The console registers no client tools: say so, so the agent is not left waiting.
        send({ type: "client_tool_result", tool_call_id: message.client_tool_call.tool_call_id,
          result: "this client has no such tool", is_error: true });
        break;
      default:
        break;
    }
  }

  function send(object) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(object));
  }

  async function startMic() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 } });
    state.mic = stream;
    const input = state.ctx.createMediaStreamSource(stream);
    // ScriptProcessor keeps this to one file (an AudioWorklet needs a second module); 1024 samples = 64 ms.
    const processor = state.ctx.createScriptProcessor(1024, 1, 1);
    processor.onaudioprocess = (event) => {
      const data = event.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(data.length);
      let peak = 0;
      for (let i = 0; i < data.length; i++) {
        const v = Math.max(-1, Math.min(1, data[i]));
        pcm[i] = v < 0 ? v * 0x8000 : v * 0x7fff;
        peak = Math.max(peak, Math.abs(v));
      }
      $("#mic-level").value = peak;
      send({ user_audio_chunk: toBase64(new Uint8Array(pcm.buffer)) });
    };
    const mute = state.ctx.createGain();
    mute.gain.value = 0;  // the processor must reach the destination to run; the caller must not hear themself
    input.connect(processor);
    processor.connect(mute);
    mute.connect(state.ctx.destination);
    state.processor = processor;
  }

  async function start(textOnly) {
    state.textOnly = textOnly;
    const agentId = document.body.dataset.agentId;
    setStatus("Connecting…");
    const { signed_url: url } = await api(
      `/v1/convai/conversation/get-signed-url?agent_id=${encodeURIComponent(agentId)}`);
    if (!textOnly) {
      state.ctx = new AudioContext({ sampleRate: RATE });
      await state.ctx.resume();
      await startMic();
    }
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.onopen = () => {
      const override = textOnly ? { conversation: { text_only: true } } : {};
      ws.send(JSON.stringify({ type: "conversation_initiation_client_data", conversation_config_override: override,
        dynamic_variables: {}, source_info: { source: "console", version: "1" } }));
    };
    ws.onmessage = (event) => onMessage(JSON.parse(event.data));
    ws.onclose = (event) => {
      const byAgent = event.code === 1000;
      setStatus(byAgent ? "Conversation ended." : `Disconnected (${event.code}) ${event.reason || ""}`, !byAgent);
      finish();
    };
    $("#start-voice").disabled = $("#start-text").disabled = true;
    $("#stop").disabled = false;
    $("#message").disabled = $("#send").disabled = false;
  }

  function finish() {
    if (state.processor) state.processor.disconnect();
    if (state.mic) for (const track of state.mic.getTracks()) track.stop();
    stopPlayback();
    state.processor = state.mic = null;
    state.ws = null;
    $("#start-voice").disabled = $("#start-text").disabled = false;
    $("#stop").disabled = true;
    $("#message").disabled = $("#send").disabled = true;
    if (state.conversationId) {
      const link = $("#conversation-link");
      link.querySelector("a").href = `/console/conversations/${state.conversationId}`;
      link.hidden = false;
    }
  }

  async function init() {
    const agentId = document.body.dataset.agentId;
    const agent = await api(`/v1/convai/agents/${agentId}`);
    $("#agent-name").textContent = agent.name;
    const fail = (error) => { setStatus(error.message || String(error), true); finish(); };
    $("#start-voice").addEventListener("click", () => start(false).catch(fail));
    $("#start-text").addEventListener("click", () => start(true).catch(fail));
    $("#stop").addEventListener("click", () => { if (state.ws) state.ws.close(1000); });
    $("#start-voice").disabled = $("#start-text").disabled = false;
    $("#message-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("#message").value.trim();
      if (!text) return;
      send({ type: "user_message", text });
      // A voice conversation echoes the turn back as user_transcript; a text chat does not.
      if (state.textOnly) addLine("user", text);
      $("#message").value = "";
    });
  }

  window.sdrPages = Object.assign(window.sdrPages || {}, { talk: init });
})();
