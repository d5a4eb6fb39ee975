"""Configuration services: the admin's platforms and channels, added, changed, listed and removed.

One module per noun: :mod:`.platforms` (marketplace apps), :mod:`.channels` (store accounts),
:mod:`.lookups` (finding either by its value) and :mod:`.checks` (the errors and input rules they share).
The CLI (``oms-bridge platform|channel ...``), the web admin and the demo are thin layers over these
functions, so all of them validate and mask the same way. Every function works inside the caller's
session (the caller commits) and raises :class:`~oms_bridge.configure.checks.ConfigError` with a message
meant for the admin. Secrets are encrypted with the vault before they touch the session; views never show
them in clear (:func:`oms_bridge.vault.mask`).

Example::

    from oms_bridge.configure.channels import add_channel, channel_view
    from oms_bridge.configure.lookups import get_channel
    from oms_bridge.configure.platforms import add_platform

    with session_scope(settings) as s:
        vault = Vault.from_settings(settings)
        add_platform(s, vault, value="shopee-tw", platform_type="shopee", host="https://partner.shopeemobile.com",
                     app_id="2001234", app_secret="...")
        add_channel(s, vault, value="shop-a", platform="shopee-tw", shop_id="123456", erp_org_id=11)
        print(channel_view(get_channel(s, "shop-a"), vault))
"""
