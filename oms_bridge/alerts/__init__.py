"""Alerts: trouble reaches a person where they already are, without anyone watching the admin.

- :mod:`~oms_bridge.alerts.rules`: what counts as trouble (stale or failing channels, authorizations,
  held / dead / stuck deliveries, an unreachable ERP or OMS, a silent scheduler, a reconciliation that
  found missing orders), each threshold a setting;
- :mod:`~oms_bridge.alerts.state`: alert episodes and notices in the store, claimed so that several
  instances never send one twice;
- :mod:`~oms_bridge.alerts.engine`: one evaluation (the scheduler's ``alerts`` job), and "send test";
- :mod:`~oms_bridge.alerts.targets` / :mod:`~oms_bridge.alerts.sender`: where notices go (apprise URLs,
  encrypted at rest, masked everywhere) and how (apprise);
- :mod:`~oms_bridge.alerts.texts`: the words: what is wrong, since when, what to do; and when it is over.

See docs/alerts.md for the admin's view.
"""
