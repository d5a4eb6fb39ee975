"""Operations endpoints: /healthz and /metrics (placeholder until its issue lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
