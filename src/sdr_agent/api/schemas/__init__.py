"""Pydantic request/response models for the ElevenLabs-compatible REST API (the edges only)."""
