"""ElevenLabs' ``telephony_call_config`` and what it becomes on Twilio's Calls API.

``ringing_timeout_secs`` → ``Timeout``; ``twilio_machine_detection`` {mode enable|detect_message_end,
actions [{action hang_up, answered_by [...]}]} → ``MachineDetection`` Enable|DetectMessageEnd with
``AsyncAmd=true`` and ``AsyncAmdStatusCallback`` (the verdict arrives on its own callback, so the
conversation starts at once and detection never delays a human's greeting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANSWERED_BY = (
    "human",
    "fax",
    "unknown",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
)
MODES = {"enable": "Enable", "detect_message_end": "DetectMessageEnd"}
# Twilio accepts a Timeout of 5-600 seconds.
MIN_RING_S, MAX_RING_S = 5, 600


class CallConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MachineDetection:
    mode: str = "detect_message_end"  # enable | detect_message_end
    hang_up_on: frozenset[str] = field(default_factory=frozenset)

    @property
    def twilio_mode(self) -> str:
        return MODES[self.mode]


@dataclass(frozen=True, slots=True)
class TelephonyCallConfig:
    ringing_timeout_secs: int | None = None
    machine_detection: MachineDetection | None = None
    recording_enabled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ElevenLabs shape, as the API answers it."""
        amd: dict[str, Any] | None = None
        if self.machine_detection is not None:
            actions = (
                [{"action": "hang_up", "answered_by": sorted(self.machine_detection.hang_up_on)}]
                if self.machine_detection.hang_up_on
                else []
            )
            amd = {"mode": self.machine_detection.mode, "actions": actions}
        return {
            "ringing_timeout_secs": self.ringing_timeout_secs,
            "twilio_call_recording_enabled": self.recording_enabled,
            "twilio_machine_detection": amd,
        }


def parse_call_config(data: dict[str, Any] | None) -> TelephonyCallConfig:
    """Validate the ElevenLabs shape; raises CallConfigError naming the bad field."""
    if not data:
        return TelephonyCallConfig()
    ring = data.get("ringing_timeout_secs")
    if ring is not None and (
        not isinstance(ring, int) or isinstance(ring, bool) or not MIN_RING_S <= ring <= MAX_RING_S
    ):
        raise CallConfigError(
            f"telephony_call_config.ringing_timeout_secs must be {MIN_RING_S}-{MAX_RING_S} seconds"
        )
    amd_data = data.get("twilio_machine_detection")
    amd: MachineDetection | None = None
    if amd_data is not None:
        if not isinstance(amd_data, dict):
            raise CallConfigError("telephony_call_config.twilio_machine_detection must be an object")
        mode = amd_data.get("mode") or "detect_message_end"
        if mode not in MODES:
            raise CallConfigError(
                f"twilio_machine_detection.mode must be one of {', '.join(MODES)}, not {mode!r}"
            )
        hang_up: set[str] = set()
        for index, rule in enumerate(amd_data.get("actions") or []):
            if not isinstance(rule, dict) or rule.get("action", "hang_up") != "hang_up":
                raise CallConfigError(f"twilio_machine_detection.actions[{index}].action must be 'hang_up'")
            verdicts = rule.get("answered_by") or []
            unknown = [v for v in verdicts if v not in ANSWERED_BY]
            if unknown or not isinstance(verdicts, list):
                raise CallConfigError(
                    f"twilio_machine_detection.actions[{index}].answered_by: unknown verdicts {unknown}"
                )
            hang_up.update(verdicts)
        amd = MachineDetection(mode, frozenset(hang_up))
    return TelephonyCallConfig(ring, amd, bool(data.get("twilio_call_recording_enabled") or False))
