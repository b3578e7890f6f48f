"""Public wire shapes shared by more than one edge: the conversation object is both the API's GET answer and
the post-call webhook's ``data``, so it lives below ``api`` and ``webhooks`` (neither imports the other)."""
