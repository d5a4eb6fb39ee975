"""OMS Seller-Center API (pull endpoints and package webhooks) (placeholder until its issue lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
