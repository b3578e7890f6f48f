"""ORM tables. Routers never see these; repositories in ``storage.repos`` do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sdr_agent.storage.secrets import EncryptedJSON, EncryptedString


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


Timestamp = DateTime(timezone=True)


class AgentRow(Base):
    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    # The seed's flat columns, kept in step with conversation_config by the repository.
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    first_message: Mapped[str] = mapped_column(Text, default="")
    voice_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    interrupt_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conversation_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    platform_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class ConversationRow(Base):
    __tablename__ = "conversations"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("agents.agent_id", ondelete="SET NULL"), nullable=True, index=True
    )
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    stream_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="initiated", index=True)
    direction: Mapped[str] = mapped_column(String(16), default="outbound")
    from_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phone_number_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dynamic_variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_override: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "metadata" is reserved on declarative classes, so the attribute is meta.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    termination_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    call_successful: Mapped[str | None] = mapped_column(String(16), nullable=True)
    audio_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    duration_secs: Mapped[float] = mapped_column(Float, default=0.0)
    # The process running the live call renews this lease; a lapsed lease means it died (crash recovery).
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    turns: Mapped[list[TranscriptTurnRow]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        order_by="TranscriptTurnRow.seq",
        passive_deletes=True,
    )


class TranscriptTurnRow(Base):
    """One transcript item, written the moment the turn ends."""

    __tablename__ = "transcript_turns"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.conversation_id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | agent
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    time_in_call_secs: Mapped[float] = mapped_column(Float, default=0.0)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    tool_calls: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tool_results: Mapped[list[Any]] = mapped_column(JSON, default=list)
    phase: Mapped[str | None] = mapped_column(String(32), nullable=True)
    intent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sentiment: Mapped[float | None] = mapped_column(Float, nullable=True)
    dtmf: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Latency of this agent turn: caller end-of-speech → first agent audio frame sent.
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    bargein_detect_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Per-stage timings, backchannel counts, engine switches.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    conversation: Mapped[ConversationRow] = relationship(back_populates="turns")


class PhoneNumberRow(Base):
    __tablename__ = "phone_numbers"

    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone_number: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(255), default="")
    provider: Mapped[str] = mapped_column(String(32), default="twilio")
    twilio_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Sealed at rest (storage.secrets); never returned by the API.
    twilio_token: Mapped[str | None] = mapped_column(EncryptedString, nullable=True)
    agent_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("agents.agent_id", ondelete="SET NULL"), nullable=True, index=True
    )
    supports_inbound: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_outbound: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class WebhookConfigRow(Base):
    """The seed's webhook_configs: a registered receiver (ElevenLabs workspace webhook)."""

    __tablename__ = "webhook_configs"

    webhook_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(String(2048))
    auth_type: Mapped[str] = mapped_column(String(16), default="hmac")
    secret: Mapped[str] = mapped_column(EncryptedString)  # shown once at creation, sealed at rest
    # Seed columns: which events and which agent (None = workspace-wide).
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    send_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class WorkspaceSettingRow(Base):
    """Key/value workspace settings (e.g. ``convai`` → post-call webhook selection)."""

    __tablename__ = "workspace_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class KnowledgeDocumentRow(Base):
    __tablename__ = "knowledge_documents"

    document_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    doc_type: Mapped[str] = mapped_column(String(16))  # text | file | url
    source: Mapped[str | None] = mapped_column(String(2048), nullable=True)  # url or filename
    content: Mapped[str] = mapped_column(Text, default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class MeetingRow(Base):
    __tablename__ = "meetings"

    meeting_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(
        String(64),
        ForeignKey("conversations.conversation_id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    )
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    starts_at: Mapped[datetime] = mapped_column(Timestamp)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    duration_minutes: Mapped[int] = mapped_column(Integer, default=30)
    attendee_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attendee_email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attendee_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class WebhookDeliveryRow(Base):
    """Outbox: written in the same transaction that finishes a conversation, delivered by a worker."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[str] = mapped_column(Text)  # exact JSON body that will be signed and sent
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_log: Mapped[list[Any]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class BatchCallRow(Base):
    """A campaign (ElevenLabs batch call). Totals are counted from its recipients, never stored twice."""

    __tablename__ = "batch_calls"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    agent_name: Mapped[str] = mapped_column(String(255), default="")
    phone_number_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_provider: Mapped[str] = mapped_column(String(32), default="twilio")
    scheduled_at: Mapped[datetime] = mapped_column(Timestamp)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # pending | in_progress | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    target_concurrency_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    telephony_call_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    calling_window: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retry_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class BatchRecipientRow(Base):
    """One lead of a campaign. ``next_attempt_at`` is when the dialer may next try it (calling hours,
    retry delay); ``status`` pending → dispatched → initiated → in_progress → a terminal status."""

    __tablename__ = "batch_recipients"
    __table_args__ = (
        UniqueConstraint("batch_id", "phone_number"),
        Index("ix_batch_recipients_due", "status", "next_attempt_at"),
    )

    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("batch_calls.batch_id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    phone_number: Mapped[str] = mapped_column(String(32))
    client_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timezones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    detail: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # When an active attempt was last checked against Twilio (reconciliation after a crash).
    checked_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class BatchAttemptRow(Base):
    """One dial of one recipient, written before Twilio is asked: (recipient, attempt_no) is unique, so no
    attempt is ever dialed twice, whichever process or replica claimed it."""

    __tablename__ = "batch_attempts"
    __table_args__ = (UniqueConstraint("recipient_id", "attempt_no"),)

    attempt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("batch_recipients.recipient_id", ondelete="CASCADE"), index=True
    )
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # completed | voicemail | busy | no-answer | failed | unknown | cancelled
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class SuppressionRow(Base):
    """Do-not-call list: a number here is never dialed by a campaign (checked at dial time)."""

    __tablename__ = "suppression_list"

    phone_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | call | import
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class ConversationSignatureRow(Base):
    """A signed realtime-socket URL: consumed once (``used_at``), by whichever replica the socket reaches."""

    __tablename__ = "conversation_signatures"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class CallStreamTokenRow(Base):
    """The one media-stream token a call ever gets (hashed): any replica consumes it, exactly once."""

    __tablename__ = "call_stream_tokens"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    consumed_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class CallAudioChunkRow(Base):
    """Call audio written while the call runs (stereo 16-bit 8 kHz PCM from ``start_sample``), so a crash
    keeps the audio so far and every replica can serve it."""

    __tablename__ = "call_audio_chunks"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.conversation_id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    start_sample: Mapped[int] = mapped_column(Integer)
    pcm: Mapped[bytes] = mapped_column(LargeBinary)


class RateLimitCounterRow(Base):
    """Requests (or failed authentications) of one bucket in one fixed window; shared by every replica."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    hits: Mapped[int] = mapped_column(Integer)


class WorkspaceToolRow(Base):
    """A workspace tool (ElevenLabs ``/v1/convai/tools``): its ``tool_config`` as sent, referenced by agents
    through ``conversation_config.agent.prompt.tool_ids``."""

    __tablename__ = "workspace_tools"

    tool_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    tool_type: Mapped[str] = mapped_column(String(16), default="webhook")
    # Sealed at rest (storage.secrets): a webhook tool's config carries its credentials (request headers).
    tool_config: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    response_mocks: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)
