"""``python -m oms_bridge``: the ``oms-bridge`` command (how ``run --processes`` starts its workers)."""

from oms_bridge.cli.main import main

if __name__ == "__main__":
    main()
