"""Admin page of the OMS destination: Omnitron product ids of marketplace SKUs (list, add, CSV import).

The same service functions as ``oms-bridge oms products`` (:mod:`oms_bridge.oms.products`), so a mapping
made here re-arms exactly the ``oms`` deliveries held for that SKU and reports the same errors. The CSV
is pasted into a text box (header ``sku,omnitron_product_id``), which needs no file upload handling.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from oms_bridge.oms import products
from oms_bridge.oms.config import oms_config
from oms_bridge.settings import SettingsError
from oms_bridge.store.db import session_scope
from oms_bridge.store.models.oms_notify import OmsProductRef
from oms_bridge.web import pages
from oms_bridge.web.security import SessionInfo

__all__ = ["router"]

router = APIRouter()
PAGE = "/admin/oms-products"


@router.get("/oms-products")
def oms_products_page(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    try:
        policy = oms_config(pages.settings()).product_reference
    except SettingsError as exc:
        policy = f"invalid settings: {exc}"
    with session_scope(pages.settings()) as session:
        maps = [{"id": r.id, "sku": r.sku, "product_id": r.omnitron_product_id}
                for r in products.list_products(session)]
        unmapped = products.unmapped_report(session)
    return pages.render(request, "oms_products.html", admin=admin, maps=maps, unmapped=unmapped, policy=policy)


@router.post("/oms-products")
def map_oms_product(request: Request, admin: SessionInfo = Depends(pages.current_admin),
        form: FormData = Depends(pages.csrf_form)) -> Response:
    """Map one SKU and re-queue the OMS deliveries held for it."""
    sku, raw_id = pages.text(form, "sku"), pages.text(form, "omnitron_product_id")
    if not sku or not raw_id.isdigit():
        return pages.back(PAGE, err="enter the SKU and the Omnitron product id (a positive whole number)")
    with session_scope(pages.settings(), immediate=True) as session:
        try:
            requeued = products.set_product(session, sku, int(raw_id))
        except ValueError as exc:
            return pages.back(PAGE, err=str(exc))
    return pages.back(PAGE, msg=f"SKU {sku} → Omnitron product {raw_id}; {requeued} held order(s) queued again "
                                "for the OMS")


@router.post("/oms-products/import")
def import_oms_products(request: Request, admin: SessionInfo = Depends(pages.current_admin),
        form: FormData = Depends(pages.csrf_form)) -> Response:
    """Import pasted CSV rows; bad rows are reported by line, good rows are kept."""
    rows, errors = products.parse_csv(str(form.get("csv") or ""))
    requeued = 0
    if rows:
        with session_scope(pages.settings(), immediate=True) as session:
            for row in rows:
                requeued += products.set_product(session, row.sku, row.product_id)
    summary = f"{len(rows)} product id(s) imported; {requeued} held order(s) queued again for the OMS"
    if errors:
        shown = "; ".join(errors[:5]) + (f"; … {len(errors) - 5} more" if len(errors) > 5 else "")
        return pages.back(PAGE, msg=summary if rows else None, err=f"{len(errors)} problem(s): {shown}")
    return pages.back(PAGE, msg=summary)


@router.post("/oms-products/{ref_id}/delete")
def unmap_oms_product(ref_id: pages.RowId, request: Request, admin: SessionInfo = Depends(pages.current_admin),
                      _form: FormData = Depends(pages.csrf_form)) -> Response:
    with session_scope(pages.settings(), immediate=True) as session:
        row = session.get(OmsProductRef, ref_id)
        if row is None:
            return pages.back(PAGE, err="that product id no longer exists")
        sku = row.sku
        session.delete(row)
    return pages.back(PAGE, msg=f"product id of SKU {sku} removed")
