"""The iDempiere sandbox behaves as the spec documents, seen through the real zeep client."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from oms_bridge.erp.client import CrudOp, DocActionOp, ErpClient, ErpLoginError, ErpRejected, Field, Login
from sandboxes.idempiere.config import ServiceType
from sandboxes.idempiere.server import ErpSandbox


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
    # DocumentEngine.processIt throws for an action the status does not allow; setDocAction answers e.toString()
    assert bad.error == "java.lang.IllegalStateException: Status=CO - Invalid Actions: Process=CO, Doc=CO"
    assert client.set_doc_action(DocActionOp("OmsCancelOrder", "CL", record_id=record)).is_error is False
    assert erp_sandbox.orders()[0]["DocStatus"] == "CL"
    [empty] = client.composite("OmsSyncOrder", [[order_op(), COMPLETE]])
    # setDocAction: Msg.parseTranslation("@FailedProcessingDocument@: " + processMsg); MOrder.prepareIt: "@NoLines@"
    assert empty[1].error == "Failed when processing document: NoLines" and empty[0].is_rolled_back
    erp_sandbox.db.messages.clear()  # a server without the AD_Message: the bare key, as Msg.translate returns it
    [empty] = client.composite("OmsSyncOrder", [[order_op(), COMPLETE]])
    assert empty[1].error == "FailedProcessingDocument: NoLines"


def test_erp_sandbox_save_errors_are_idempiere_texts(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    """PO.validForeignKeys (before save) and ProductNotOnPriceListException (MOrderLine.beforeSave), as
    ModelADServiceImpl.createData sends them: "Cannot save record in <table>: " + the logged error."""
    [group] = client.composite("OmsSyncOrder", [[order_op(Field("DateOrdered", "2026-11-22 16:30:00")),
                                                 line_op(product="140")]])
    assert group[1].error == ("Cannot save record in C_OrderLine: Product is not on PriceList -> Line No:10, "
                              "Product: PChair - Patio Chair, Price List: Standard, Date: 11/22/2026")
    [group] = client.composite("OmsSyncOrder", [[order_op(), line_op(product="999999")]])
    assert group[1].error == "Cannot save record in C_OrderLine: Foreign ID 999999 not found in M_Product_ID"
    [group] = client.composite("OmsSyncOrder", [[order_op(Field("M_PriceList_ID", "4242"))]])
    assert group[0].error == "Cannot save record in C_Order: Foreign ID 4242 not found in M_PriceList_ID"


def test_erp_sandbox_cuts_long_strings_silently_and_publishes_column_lengths(erp_sandbox: ErpSandbox,
                                                                           client: ErpClient) -> None:
    """PO.set_Value cuts a string to AD_Column.FieldLength with only a server-log warning; C_Order.POReference
    is 20 characters (migration i7.1z IDEMPIERE-3862). AD_Column is readable through queryData."""
    shopline_id = "5f8d0d55b54764421b7156c3"  # 24 characters
    [group] = client.composite("OmsSyncOrder", [[order_op(Field("POReference", shopline_id)), line_op(), COMPLETE]])
    assert not any(r.is_error for r in group)
    assert erp_sandbox.orders()[0]["POReference"] == shopline_id[:20]
    assert client.query("OmsQueryOrder", "C_Order", filter=f"POReference = '{shopline_id}'") == []
    erp_sandbox.service_types["OmsQueryColumn"] = ServiceType(
        "OmsQueryColumn", "ModelADService", "queryData", "AD_Column",
        {"TableName": ("C", "AD_Column"), "Action": ("C", "Read"), "RecordID": ("F", None), "Filter": ("F", None)},
        {}, ["ColumnName", "FieldLength"], {50004})
    [row] = client.query("OmsQueryColumn", "AD_Column", filter="AD_Table_ID=259 AND ColumnName='POReference'")
    assert row == {"ColumnName": "POReference", "FieldLength": "20"}



def test_erp_sandbox_login_failure_is_not_a_fault(client: ErpClient) -> None:
    bad = ErpClient(client.url, Login("WebService", "x", 11, 50004, 11, 103))
    with pytest.raises(ErpLoginError, match="^Error login - User invalid$"):
        bad.composite("OmsSyncOrder", [[order_op()]])
    with pytest.raises(ErpLoginError):
        bad.set_doc_action(COMPLETE)


def _raw_post(sandbox: ErpSandbox, service: str, body: str) -> requests.Response:
    """POST a hand-written SOAP body (the client always sends a DataRow, so an old client's body is written out)."""
    login = ("<_0:ADLoginRequest><_0:user>WebService</_0:user><_0:pass>WebService</_0:pass><_0:lang>en_US</_0:lang>"
             "<_0:ClientID>11</_0:ClientID><_0:RoleID>50004</_0:RoleID><_0:OrgID>11</_0:OrgID>"
             "<_0:WarehouseID>103</_0:WarehouseID><_0:stage>0</_0:stage></_0:ADLoginRequest>")
    envelope = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:_0="http://idempiere.org/ADInterface/1_0"><soapenv:Body>'
                + body.replace("LOGIN", login) + "</soapenv:Body></soapenv:Envelope>")
    return requests.post(f"{sandbox.base_url}/{service}", data=envelope.encode(), timeout=10,
                         headers={"Content-Type": "text/xml; charset=utf-8"})


_BP_NO_DATAROW = ("<_0:ModelCRUD><_0:serviceType>OmsCreateBPartner</_0:serviceType><_0:TableName>C_BPartner"
                  "</_0:TableName><_0:RecordID>0</_0:RecordID><_0:Action>{action}</_0:Action></_0:ModelCRUD>")
_ORDER_OP = ("<_0:operation><_0:TargetPort>createData</_0:TargetPort><_0:ModelCRUD><_0:serviceType>OmsCreateOrder"
             "</_0:serviceType><_0:TableName>C_Order</_0:TableName><_0:RecordID>0</_0:RecordID><_0:Action>Create"
             "</_0:Action><_0:DataRow><_0:field column=\"C_BPartner_ID\"><_0:val>117</_0:val></_0:field></_0:DataRow>"
             "</_0:ModelCRUD></_0:operation>")


def test_erp_sandbox_write_without_datarow_faults_the_whole_composite(erp_sandbox: ErpSandbox) -> None:
    """ModelADServiceImpl.createData/createUpdateData call ``dr.getFieldArray()`` with no null check (iDempiere 12):
    the NullPointerException escapes CompositeServiceImpl, which rolls the current group back and rethrows, so
    CXF answers a SOAP Fault for the whole request. Groups before it were committed at their own end."""
    bare = ("<_0:operation><_0:TargetPort>createData</_0:TargetPort>" + _BP_NO_DATAROW.format(action="Create")
            + "</_0:operation>")
    composite = ("<_0:compositeOperation><_0:CompositeRequest>LOGIN<_0:serviceType>OmsSyncOrder</_0:serviceType>"
                 f"<_0:operations>{_ORDER_OP}</_0:operations><_0:operations>{_ORDER_OP}{bare}</_0:operations>"
                 f"<_0:operations>{_ORDER_OP}</_0:operations></_0:CompositeRequest></_0:compositeOperation>")
    answer = _raw_post(erp_sandbox, "compositeInterface", composite)
    assert answer.status_code == 500 and b"<faultcode>soap:Server</faultcode>" in answer.content
    assert b'DataRow.getFieldArray()" because "dr" is null' in answer.content
    assert len(erp_sandbox.orders()) == 1  # the first group committed; the faulting one rolled back; no third
    single = _raw_post(erp_sandbox, "ModelADService", "<_0:createUpdateData><_0:ModelCRUDRequest>"
                       + _BP_NO_DATAROW.format(action="CreateUpdate") + "LOGIN</_0:ModelCRUDRequest>"
                       "</_0:createUpdateData>")
    assert single.status_code == 500 and b"NullPointerException" in single.content
    erp_sandbox.reset_calls()  # these bodies are deliberately not what the client sends


def test_erp_client_always_sends_a_datarow_on_writes(erp_sandbox: ErpSandbox, client: ErpClient) -> None:
    """A write without fields still carries ``<DataRow/>``, so the server never faults; queryData may omit it."""
    [group] = client.composite("OmsSyncOrder", [[CrudOp("createData", "OmsCreateLocation", "C_Location", "Create")]])
    assert group[0].is_error and "NullPointerException" not in (group[0].error or "")
    assert b"DataRow" in erp_sandbox.bodies[-1]
    assert client.query("OmsQueryOrder", "C_Order", filter="1=0") == []
