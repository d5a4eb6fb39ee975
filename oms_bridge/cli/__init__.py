"""The ``oms-bridge`` command line (click). ``main.py`` assembles the command groups."""
