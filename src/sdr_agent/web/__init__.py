"""Talking to an agent without a phone: the ElevenLabs realtime conversation socket (audio and text-only),
signed URLs, simulate-conversation and the browser console. Sits beside ``api/``; the call loop is
``voice/``."""
