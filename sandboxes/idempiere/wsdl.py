"""The WSDL the iDempiere sandbox serves: the project's own text for the ADInterface contract.

Why our own text: the upstream WSDL/XSD are GPL data and are not copied into the project. This
module writes the same contract from the facts in ``shared/specs/idempiere.md`` §1.1–1.2:
namespace ``http://idempiere.org/ADInterface/1_0``, SOAP 1.1, RPC/literal, ``soapAction=""``,
one part per message (input ``arg0`` = the request element, output ``return`` = the response
element), every child element namespace-qualified. Only the types the bridge uses are declared
(CRUD, setDocAction, compositeOperation); a real server declares more, which a client never sees.

The client never reads this module: it loads whatever WSDL the server (real or sandbox) serves.
"""

from __future__ import annotations

__all__ = ["NS", "TYPES_XSD", "model_ad_service_wsdl", "composite_wsdl", "MODEL_AD_OPERATIONS"]

NS = "http://idempiere.org/ADInterface/1_0"

TYPES_XSD = f"""<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{NS}"
    targetNamespace="{NS}" elementFormDefault="qualified">
  <xsd:complexType name="ADLoginRequest">
    <xsd:sequence>
      <xsd:element name="user" type="xsd:string"/>
      <xsd:element name="pass" type="xsd:string"/>
      <xsd:element name="lang" type="xsd:string"/>
      <xsd:element name="ClientID" type="xsd:int"/>
      <xsd:element name="RoleID" type="xsd:int"/>
      <xsd:element name="OrgID" type="xsd:int"/>
      <xsd:element name="WarehouseID" type="xsd:int"/>
      <xsd:element name="stage" type="xsd:int"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="DataField">
    <xsd:sequence>
      <xsd:element name="val" type="xsd:string"/>
    </xsd:sequence>
    <xsd:attribute name="column" type="xsd:string"/>
    <xsd:attribute name="type" type="xsd:string"/>
    <xsd:attribute name="lval" type="xsd:string"/>
    <xsd:attribute name="disp" type="xsd:boolean"/>
    <xsd:attribute name="edit" type="xsd:boolean"/>
    <xsd:attribute name="error" type="xsd:boolean"/>
    <xsd:attribute name="errorVal" type="xsd:string"/>
  </xsd:complexType>
  <xsd:complexType name="DataRow">
    <xsd:sequence>
      <xsd:element name="field" type="tns:DataField" minOccurs="0" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="DataSet">
    <xsd:sequence>
      <xsd:element name="DataRow" type="tns:DataRow" minOccurs="0" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="WindowTabData">
    <xsd:sequence>
      <xsd:element name="DataSet" type="tns:DataSet" minOccurs="0"/>
      <xsd:element name="RowCount" type="xsd:int" minOccurs="0"/>
      <xsd:element name="Success" type="xsd:boolean" minOccurs="0"/>
      <xsd:element name="Error" type="xsd:string" minOccurs="0"/>
      <xsd:element name="ErrorInfo" type="xsd:string" minOccurs="0"/>
      <xsd:element name="Status" type="xsd:string" minOccurs="0"/>
      <xsd:element name="StatusError" type="xsd:boolean" minOccurs="0"/>
    </xsd:sequence>
    <xsd:attribute name="NumRows" type="xsd:int"/>
    <xsd:attribute name="TotalRows" type="xsd:int"/>
    <xsd:attribute name="StartRow" type="xsd:int"/>
  </xsd:complexType>
  <xsd:complexType name="outputField">
    <xsd:attribute name="column" type="xsd:string"/>
    <xsd:attribute name="value" type="xsd:string"/>
    <xsd:attribute name="Text" type="xsd:string"/>
  </xsd:complexType>
  <xsd:complexType name="outputFields">
    <xsd:sequence>
      <xsd:element name="outputField" type="tns:outputField" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="StandardResponse">
    <xsd:sequence>
      <xsd:element name="Error" type="xsd:string" minOccurs="0"/>
      <xsd:element name="outputFields" type="tns:outputFields" minOccurs="0" maxOccurs="unbounded"/>
      <xsd:element name="WindowTabData" type="tns:WindowTabData" minOccurs="0"/>
    </xsd:sequence>
    <xsd:attribute name="IsError" type="xsd:boolean"/>
    <xsd:attribute name="IsRolledBack" type="xsd:boolean"/>
    <xsd:attribute name="RecordID" type="xsd:int"/>
  </xsd:complexType>
  <xsd:complexType name="ModelCRUD">
    <xsd:sequence>
      <xsd:element name="serviceType" type="xsd:string"/>
      <xsd:element name="TableName" type="xsd:string"/>
      <xsd:element name="RecordID" type="xsd:int"/>
      <xsd:element name="recordIDVariable" type="xsd:string" minOccurs="0"/>
      <xsd:element name="Filter" type="xsd:string" minOccurs="0"/>
      <xsd:element name="Action">
        <xsd:simpleType>
          <xsd:restriction base="xsd:string">
            <xsd:enumeration value="Create"/>
            <xsd:enumeration value="Read"/>
            <xsd:enumeration value="Update"/>
            <xsd:enumeration value="Delete"/>
            <xsd:enumeration value="CreateUpdate"/>
          </xsd:restriction>
        </xsd:simpleType>
      </xsd:element>
      <xsd:element name="Offset" type="xsd:int" minOccurs="0"/>
      <xsd:element name="Limit" type="xsd:int" minOccurs="0"/>
      <xsd:element name="DataRow" type="tns:DataRow" minOccurs="0"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="ModelCRUDRequest">
    <xsd:sequence>
      <xsd:element name="ModelCRUD" type="tns:ModelCRUD"/>
      <xsd:element name="ADLoginRequest" type="tns:ADLoginRequest"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="ModelSetDocAction">
    <xsd:sequence>
      <xsd:element name="serviceType" type="xsd:string"/>
      <xsd:element name="tableName" type="xsd:string"/>
      <xsd:element name="recordID" type="xsd:int"/>
      <xsd:element name="recordIDVariable" type="xsd:string" minOccurs="0"/>
      <xsd:element name="docAction" type="xsd:string"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="ModelSetDocActionRequest">
    <xsd:sequence>
      <xsd:element name="ModelSetDocAction" type="tns:ModelSetDocAction"/>
      <xsd:element name="ADLoginRequest" type="tns:ADLoginRequest"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="operation">
    <xsd:sequence>
      <xsd:element name="TargetPort">
        <xsd:simpleType>
          <xsd:restriction base="xsd:string">
            <xsd:enumeration value="createData"/>
            <xsd:enumeration value="readData"/>
            <xsd:enumeration value="updateData"/>
            <xsd:enumeration value="deleteData"/>
            <xsd:enumeration value="runProcess"/>
            <xsd:enumeration value="setDocAction"/>
            <xsd:enumeration value="createUpdateData"/>
          </xsd:restriction>
        </xsd:simpleType>
      </xsd:element>
      <xsd:element name="ModelCRUD" type="tns:ModelCRUD" minOccurs="0"/>
      <xsd:element name="ModelSetDocAction" type="tns:ModelSetDocAction" minOccurs="0"/>
    </xsd:sequence>
    <xsd:attribute name="preCommit" type="xsd:boolean" default="false"/>
    <xsd:attribute name="postCommit" type="xsd:boolean" default="false"/>
  </xsd:complexType>
  <xsd:complexType name="operations">
    <xsd:sequence>
      <xsd:element name="operation" type="tns:operation" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="CompositeRequest">
    <xsd:sequence>
      <xsd:element name="ADLoginRequest" type="tns:ADLoginRequest"/>
      <xsd:element name="serviceType" type="xsd:string"/>
      <xsd:element name="operations" type="tns:operations" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="CompositeResponse">
    <xsd:sequence>
      <xsd:element name="StandardResponse" type="tns:StandardResponse" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="CompositeResponses">
    <xsd:sequence>
      <xsd:element name="CompositeResponse" type="tns:CompositeResponse" minOccurs="0" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:element name="ModelCRUDRequest" type="tns:ModelCRUDRequest"/>
  <xsd:element name="ModelSetDocActionRequest" type="tns:ModelSetDocActionRequest"/>
  <xsd:element name="CompositeRequest" type="tns:CompositeRequest"/>
  <xsd:element name="StandardResponse" type="tns:StandardResponse"/>
  <xsd:element name="WindowTabData" type="tns:WindowTabData"/>
  <xsd:element name="CompositeResponses" type="tns:CompositeResponses"/>
</xsd:schema>"""

# operation -> (request element, response element)
MODEL_AD_OPERATIONS: dict[str, tuple[str, str]] = {
    "createData": ("ModelCRUDRequest", "StandardResponse"),
    "createUpdateData": ("ModelCRUDRequest", "StandardResponse"),
    "updateData": ("ModelCRUDRequest", "StandardResponse"),
    "deleteData": ("ModelCRUDRequest", "StandardResponse"),
    "readData": ("ModelCRUDRequest", "WindowTabData"),
    "queryData": ("ModelCRUDRequest", "WindowTabData"),
    "setDocAction": ("ModelSetDocActionRequest", "StandardResponse"),
}
COMPOSITE_OPERATIONS: dict[str, tuple[str, str]] = {"compositeOperation": ("CompositeRequest", "CompositeResponses")}


def _wsdl(service: str, port_type: str, binding: str, port: str, location: str,
          operations: dict[str, tuple[str, str]]) -> str:
    """An RPC/literal SOAP 1.1 WSDL for ``operations`` at ``location``."""
    messages, port_ops, binding_ops = [], [], []
    for op, (request, response) in operations.items():
        messages.append(f'<wsdl:message name="{op}"><wsdl:part name="arg0" element="tns:{request}"/></wsdl:message>')
        messages.append(f'<wsdl:message name="{op}Response">'
                        f'<wsdl:part name="return" element="tns:{response}"/></wsdl:message>')
        port_ops.append(f'<wsdl:operation name="{op}"><wsdl:input name="{op}" message="tns:{op}"/>'
                        f'<wsdl:output name="{op}Response" message="tns:{op}Response"/></wsdl:operation>')
        body = f'<soap:body use="literal" namespace="{NS}"/>'
        binding_ops.append(f'<wsdl:operation name="{op}"><soap:operation soapAction="" style="rpc"/>'
                           f'<wsdl:input name="{op}">{body}</wsdl:input>'
                           f'<wsdl:output name="{op}Response">{body}</wsdl:output></wsdl:operation>')
    nl = "\n  "
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="{service}" targetNamespace="{NS}" xmlns:tns="{NS}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <wsdl:types>{TYPES_XSD}</wsdl:types>
  {nl.join(messages)}
  <wsdl:portType name="{port_type}">{"".join(port_ops)}</wsdl:portType>
  <wsdl:binding name="{binding}" type="tns:{port_type}">
    <soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>
    {"".join(binding_ops)}
  </wsdl:binding>
  <wsdl:service name="{service}">
    <wsdl:port name="{port}" binding="tns:{binding}"><soap:address location="{location}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


def model_ad_service_wsdl(location: str) -> str:
    """WSDL of ``ModelADService`` served at ``location``."""
    return _wsdl("ModelADService", "ModelADService", "ModelADServiceSoapBinding", "ModelADServiceImplPort",
                 location, MODEL_AD_OPERATIONS)


def composite_wsdl(location: str) -> str:
    """WSDL of ``compositeInterface`` served at ``location``."""
    return _wsdl("compositeInterface", "CompositeService", "compositeInterfaceSoapBinding",
                 "CompositeServiceImplPort", location, COMPOSITE_OPERATIONS)
