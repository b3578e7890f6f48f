"""Outbound campaigns (ElevenLabs batch calling): submit, calling hours, dial, retry, suppress.

``window`` and ``numbers`` are pure; ``submit`` validates and stores a campaign; ``dialer`` claims due
recipients and places their calls; ``outcomes`` turns finished calls into recipient statuses and retries.
"""
