"""The iDempiere simulator: a SOAP server (ADInterface) with its own small database and WS_* setup.

:mod:`.server` answers the web services, :mod:`.database` holds the tables it reads and writes,
:mod:`.config` the users, roles and web-service types an admin would configure, :mod:`.wsdl` the
contract text it serves.
"""
