"""Process-wide services, created by the app factory's lifespan (never at import time).

Per-call state never lives here: each call has its own ``voice.session.CallSession``. Each optional field has
one owner, the module named beside it, which creates it (on start-up or first use) and is the only writer.
The types are imported for the checker only, so this module still imports nothing heavy.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdr_agent.settings import Settings
from sdr_agent.storage.db import Database

if TYPE_CHECKING:
    from sdr_agent.campaigns.clock import Clock
    from sdr_agent.campaigns.runtime import CampaignRuntime
    from sdr_agent.engines.base import LanguageModel
    from sdr_agent.knowledge.store import KnowledgeStore
    from sdr_agent.observability.metrics import AppMetrics
    from sdr_agent.telephony.twilio.rest import TwilioGateway
    from sdr_agent.voice.lifecycle import CallRecovery
    from sdr_agent.voice.runtime import VoiceRuntime
    from sdr_agent.webhooks.worker import DeliveryWorker


def new_instance_id() -> str:
    """Names this process in leases and metrics labels: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Services:
    settings: Settings
    db: Database
    instance_id: str = field(default_factory=new_instance_id)
    voice: VoiceRuntime | None = None  # voice.runtime
    twilio: TwilioGateway | None = None  # telephony.twilio.rest
    knowledge: KnowledgeStore | None = None  # knowledge.store
    metrics: AppMetrics | None = None  # observability.runtime
    webhook_worker: DeliveryWorker | None = None  # webhooks.runtime
    analysis_llm: LanguageModel | None = None  # analysis.finalize (tests may set their own)
    recovery: CallRecovery | None = None  # voice.lifecycle
    # Set when SIGTERM arrived: no new call is answered while live ones are told goodbye (voice.lifecycle).
    draining: bool = False
    campaigns: CampaignRuntime | None = None  # campaigns.runtime
    # The dialer's clock: a test or the demo sets a FakeClock, else the system clock (campaigns.clock).
    campaign_clock: Clock | None = None
