"""Placeholder router; its owner replaces this module."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
