"""sdr-agent: a self-hosted AI sales-development voice agent."""

__version__ = "0.1.0"
