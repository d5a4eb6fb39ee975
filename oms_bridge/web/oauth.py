"""OAuth callback route: /oauth/callback/{platform} (placeholder until its issue lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
