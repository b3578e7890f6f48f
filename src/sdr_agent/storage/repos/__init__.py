"""Repositories: the only code that touches ORM rows. They take an ``AsyncSession`` and return records
(plain dataclasses), so routers and the voice pipeline never see the ORM."""
