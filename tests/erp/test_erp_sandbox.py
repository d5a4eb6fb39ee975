"""The iDempiere sandbox behaves as the spec documents, seen through the real zeep client."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms_bridge.erp.client import CrudOp, DocActionOp, ErpClient, ErpLoginError, ErpRejected, Field, Login
from oms_bridge.erp.sandbox import ErpSandbox


@pytest.fixture
def client(erp_sandbox: ErpSandbox, tmp_path: Path) -> ErpClient:
    f = erp_sandbox.connection_fields()
    login = Login(f["username"], f["password"], f["client_id"], f["role_id"], f["org_id"], f["warehouse_id"], stage=0)
    return ErpClient(f["url"], login, cache_dir=tmp_path / "cache", timeout=5)


def order_op(*fields: Field, service_type: str = "OmsCreateOrder") -> CrudOp:
    return CrudOp("createData", service_type, "C_Order", "Create", (Field("C_BPartner_ID", "117"), *fields),
                  role="order")


def line_op(product: str = "128", qty: str = "1") -> CrudOp:
    return CrudOp("createData", "OmsCreateOrderLine", "C_OrderLine", "Create",
                  (Field("C_Order_ID", "@C_Order.C_Order_ID"), Field("M_Product_ID", product),
                   Field("QtyEntered", qty)))


COMPLETE = DocActionOp("OmsCompleteOrder", "CO", record_id_variable="@C_Order.C_Order_ID")


def test_erp_sandbox_wsdl_is_cached_between_clients(erp_sandbox: ErpSandbox, client: ErpClient,
                                                    tmp_path: Path) -> None:
    client.query("OmsQueryOrder", "C_Order", filter="1=0")
    client.composite("OmsSyncOrder", [[order_op(), line_op(), COMPLETE]])
    assert erp_sandbox.wsdl_fetches == 2
    second = ErpClient(client.url, client.login, cache_dir=tmp_path / "cache")
    second.query("OmsQueryOrder", "C_Order", filter="1=0")
    assert erp_sandbox.wsdl_fetches == 2  # from the cache
    assert second.calls == 1


def test_erp_sandbox_create_answers_record_id_without_is_error(client: ErpClient) -> None:
    result = client.create(CrudOp("createData", "OmsCreateBPartner", "C_BPartner", "Create",
                                  (Field("Value", "v1"), Field("Name", "n1"))))
    assert result.is_error is False and result.record_id and result.error is None


def test_erp_sandbox_value_conversions(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    [group] = client.composite("OmsSyncOrder", [[order_op(Field("DateOrdered", "2026-1-5 08:09:10"),
                                                          Field("Description", ""),
                                                          Field("PaymentRule", "", lval="Direct Deposit"),
                                                          Field("IsSOTrx", "true")), line_op(qty="2.5"), COMPLETE]])
    assert not any(r.is_error for r in group)
    [order] = erp_sandbox.orders()
    assert order["DateOrdered"] == "2026-1-5 08:09:10" and order["Description"] is None
    assert order["PaymentRule"] == "T" and order["IsSOTrx"] == "Y"
    assert order["lines"][0]["QtyEntered"] == "2.5" and order["GrandTotal"] == "59.375"

    [bad] = client.composite("OmsSyncOrder", [[order_op(Field("DateOrdered", "2026-01-05T08:09:10Z"))]])
    assert bad[0].error == "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]"
    [bad] = client.composite("OmsSyncOrder", [[order_op(Field("IsSOTrx", "yes"))]])
    assert bad[0].is_error


def test_erp_sandbox_unresolved_reference_and_rollback(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    [group] = client.composite("OmsSyncOrder", [[line_op()]])
    assert group[0].is_error and group[0].is_rolled_back
    assert "Request variable @C_Order.C_Order_ID can not resolved" in group[0].error
    # second op fails: the first one's C_Order is rolled back with it, marked IsRolledBack
    [group] = client.composite("OmsSyncOrder", [[order_op(), line_op(product="140")]])
    assert [r.is_rolled_back for r in group] == [True, True] and group[0].record_id
    assert erp_sandbox.orders() == []


def test_erp_sandbox_pre_commit_keeps_earlier_work(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    """``preCommit`` commits before the operation: a later failure no longer rolls back the earlier record."""
    late = CrudOp("createData", "OmsCreateOrderLine", "C_OrderLine", "Create",
                  (Field("C_Order_ID", "@C_Order.C_Order_ID"), Field("M_Product_ID", "140")), pre_commit=True)
    [group] = client.composite("OmsSyncOrder", [[order_op(), late]])
    assert group[1].is_error
    assert len(erp_sandbox.orders()) == 1 and erp_sandbox.orders()[0]["DocStatus"] == "DR"


def test_erp_sandbox_authorisation_texts(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    with pytest.raises(ErpRejected, match="^Service type Nope not configured$"):
        client.query("Nope", "C_Order", filter="1=0")
    with pytest.raises(ErpRejected, match="Service type OmsCreateOrder not configured"):
        client.query("OmsCreateOrder", "C_Order", filter="1=0")  # a createData type used for queryData
    erp_sandbox.registered_methods.discard("queryData")
    with pytest.raises(ErpRejected, match="^Method queryData not registered$"):
        client.query("OmsQueryOrder", "C_Order", filter="1=0")
    erp_sandbox.registered_services.discard("ModelADService")
    with pytest.raises(ErpRejected, match="^Web Service ModelADService not registered$"):
        client.query("OmsQueryOrder", "C_Order", filter="1=0")
    erp_sandbox.registered_services.discard("CompositeInterface")
    with pytest.raises(ErpRejected, match="Web Service CompositeInterface not registered"):
        client.composite("OmsSyncOrder", [[order_op()]])


def test_erp_sandbox_parameters_constant_and_invalid(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    # TableName is a constant of the type: whatever the caller sends, the server uses C_Order
    rows = client.query("OmsQueryOrder", "M_Product", filter="1=1")
    assert rows == []
    del erp_sandbox.service_types["OmsQueryOrder"].params["RecordID"]
    with pytest.raises(ErpRejected, match="^Web service type OmsQueryOrder: invalid parameter RecordID$"):
        client.query("OmsQueryOrder", "C_Order", filter="1=0")


def test_erp_sandbox_create_update_identifier(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    op = CrudOp("createUpdateData", "OmsCreateBPartner", "C_BPartner", "CreateUpdate",
                (Field("Value", "same@example.com"), Field("Name", "First")))
    first = client.create(op)
    second = client.create(CrudOp("createUpdateData", "OmsCreateBPartner", "C_BPartner", "CreateUpdate",
                                  (Field("Value", "same@example.com"), Field("Name", "Renamed"))))
    assert first.record_id == second.record_id
    assert erp_sandbox.records("C_BPartner", Value="same@example.com")[0]["Name"] == "Renamed"
    erp_sandbox.service_types["OmsCreateBPartner"].params["Action"] = ("C", "Create")
    third = client.create(op)
    assert third.error == f"Record already presents with C_BPartner_ID = {first.record_id}"


def test_erp_sandbox_doc_actions(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    [group] = client.composite("OmsSyncOrder", [[order_op(), line_op(), COMPLETE]])
    record = group[0].record_id
    bad = client.set_doc_action(DocActionOp("OmsCancelOrder", "CO", record_id=record))
    assert bad.error == "Failed Processing Document: Invalid DocAction CO for DocStatus CO"
    assert client.set_doc_action(DocActionOp("OmsCancelOrder", "CL", record_id=record)).is_error is False
    assert erp_sandbox.orders()[0]["DocStatus"] == "CL"
    [empty] = client.composite("OmsSyncOrder", [[order_op(), COMPLETE]])
    assert empty[1].error == "Failed Processing Document: No Lines" and empty[0].is_rolled_back


def test_erp_sandbox_login_failure_is_not_a_fault(client: ErpClient) -> None:
    bad = ErpClient(client.url, Login("WebService", "x", 11, 50004, 11, 103))
    with pytest.raises(ErpLoginError, match="^Error login - User invalid$"):
        bad.composite("OmsSyncOrder", [[order_op()]])
    with pytest.raises(ErpLoginError):
        bad.set_doc_action(COMPLETE)
