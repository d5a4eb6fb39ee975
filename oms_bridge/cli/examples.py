"""Example invocations shown at the end of every command's ``--help`` (one table, attached by ``main``).

Kept in one place so every command has one and a test can hold them to it: :func:`attach_examples`
refuses an entry for a command that does not exist, and ``tests/foundation/test_cli_conventions.py``
fails when a command has none and checks each example parses with that command's options.
"""

from __future__ import annotations

import click

__all__ = ["EXAMPLES", "attach_examples", "leaf_commands"]

#: command path → example command lines (without the leading ``oms-bridge``).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("init", "init --json"),
    "db upgrade": ("db upgrade", "db upgrade --json"),
    "db current": ("db current --json",),
    "db history": ("db history",),
    "db sql": ("db sql --dialect postgresql > schema.sql",),
    "keys status": ("keys status --json",),
    "keys generate": ("keys generate",),
    "keys rotate": ("keys rotate", "keys rotate --drop-old --json"),
    "keys prune": ("keys prune",),
    "platform add": ("platform add shopee-tw --type shopee --host https://partner.shopeemobile.com "
                     "--app-id 2001887 --secret-env SHOPEE_PARTNER_KEY",),
    "platform list": ("platform list", "platform list --json"),
    "platform show": ("platform show shopee-tw --json",),
    "platform update": ("platform update shopee-tw --host https://partner.test-stable.shopeemobile.com",),
    "platform remove": ("platform remove shopee-tw --cascade",),
    "channel add": ("channel add shop-a --platform shopee-tw --shop-id 54804 --erp-connection gardenworld "
                    "--erp-pricelist-id 101",),
    "channel list": ("channel list --platform shopee-tw",),
    "channel show": ("channel show shop-a --json",),
    "channel update": ("channel update shop-a --getorder-interval 10", "channel update shop-a --prompt-token"),
    "channel enable": ("channel enable shop-a",),
    "channel disable": ("channel disable shop-a",),
    "channel remove": ("channel remove shop-a",),
    "channel authorize": ("channel authorize shop-a", "channel authorize shop-a --json"),
    "process run": ("process run getorder --channel shop-a", "process run refreshtoken --all --force"),
    "process runs": ("process runs --channel shop-a --limit 5", "process runs --process getorder --json"),
    "orders list": ("orders list --channel shop-a --held", "orders list --status paid --json"),
    "orders show": ("orders show 2611230ABC --channel shop-a",),
    "orders answer-requests": ("orders answer-requests",),
    "orders retry-answers": ("orders retry-answers 2611230ABC",),
    "orders backfill": ("orders backfill --channel shop-a --since 2026-03-01 --until 2026-03-31",),
    "erp connection add": ("erp connection add gardenworld --url https://erp:8443/ADInterface/services "
                           "--user WebService --client-id 11 --role-id 50004 --org-id 11 --warehouse-id 103",),
    "erp connection update": ("erp connection update gardenworld --password",),
    "erp connection remove": ("erp connection remove gardenworld",),
    "erp connection list": ("erp connection list --json",),
    "erp connection show": ("erp connection show gardenworld",),
    "erp check": ("erp check", "erp check --connection gardenworld --json", "erp check --setup-guide"),
    "erp retry": ("erp retry --channel shop-a", "erp retry --order 2611230ABC"),
    "erp deliver": ("erp deliver --json",),
    "erp status": ("erp status", "erp status --json"),
    "deliveries problems": ("deliveries problems", "deliveries problems --state held --destination erp --json",
                            "deliveries problems --channel shop-a"),
    "sku map": ("sku map ABC-1 --value ABC-1-ERP", "sku map ABC-1 --product 140 --channel shop-a",
                "sku map ABC-1 --product 140 --no-check"),
    "sku unmap": ("sku unmap ABC-1",),
    "sku list": ("sku list --json",),
    "sku import": ("sku import skus.csv", "sku import skus.csv --json", "sku import skus.csv --no-check"),
    "sku unmapped": ("sku unmapped",),
    "oms settings": ("oms settings", "oms settings --rotate --json"),
    "oms rotate-token": ("oms rotate-token --endpoint webhooks",),
    "oms carriers list": ("oms carriers list --platform shopee",),
    "oms carriers set": ("oms carriers set shopee 'Yurtici Kargo' 30001",),
    "oms carriers remove": ("oms carriers remove shopee 'Yurtici Kargo'",),
    "oms push-shipments": ("oms push-shipments --json",),
    "oms shipments": ("oms shipments --held",),
    "oms retry-shipments": ("oms retry-shipments --order 42",),
    "oms packages": ("oms packages --problems --limit 20",),
    "oms products map": ("oms products map ABC-1 5123",),
    "oms products unmap": ("oms products unmap ABC-1",),
    "oms products list": ("oms products list --unmapped",),
    "oms products import": ("oms products import products.csv",),
    "oms push-auth": ("oms push-auth --token-env OMS_API_TOKEN --new-secret",),
    "oms push-orders": ("oms push-orders",),
    "oms deliveries": ("oms deliveries --held --json",),
    "oms retry-orders": ("oms retry-orders --order 42",),
    "alerts target add": ("alerts target add ops-mail --url-env OPS_MAIL_URL --description 'on-call mailbox'",),
    "alerts target list": ("alerts target list",),
    "alerts target remove": ("alerts target remove ops-mail",),
    "alerts target test": ("alerts target test ops-mail",),
    "alerts list": ("alerts list", "alerts list --all --json"),
    "alerts history": ("alerts history --limit 10",),
    "alerts check": ("alerts check --json",),
    "reconcile": ("reconcile --channel shop-a --since 2026-03-01 --until 2026-03-07",),
    "run": ("run", "run --host 127.0.0.1 --port 8765"),
    "demo": ("demo", "demo --orders 20 --serve"),
    "admin set-password": ("admin set-password --username admin",),
}


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """Every command that runs something (not a group), by its path (``"erp connection add"``)."""
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found.update(leaf_commands(command, path))
        else:
            found[" ".join(path)] = command
    return found


def attach_examples(root: click.Group, prog: str = "oms-bridge") -> None:
    """Put each command's examples in its help epilog (``\\b``: click keeps the lines as written)."""
    leaves = leaf_commands(root)
    unknown = sorted(set(EXAMPLES) - set(leaves))
    if unknown:
        raise RuntimeError(f"examples for commands that do not exist: {', '.join(unknown)}")
    for path, command in leaves.items():
        lines = EXAMPLES.get(path)
        if lines:
            command.epilog = _epilog(lines, prog)
    _group_examples(root, (), prog)


def _epilog(lines: tuple[str, ...] | list[str], prog: str) -> str:
    return "\b\nExamples:\n" + "\n".join(f"  {prog} {line}" for line in lines)


def _group_examples(group: click.Group, prefix: tuple[str, ...], prog: str) -> list[str]:
    """A group's help shows the first example of each of its first commands (the root keeps its own)."""
    firsts: list[str] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            firsts.extend(_group_examples(command, path, prog)[:1])
        elif EXAMPLES.get(" ".join(path)):
            firsts.append(EXAMPLES[" ".join(path)][0])
    if prefix:
        group.epilog = _epilog(firsts[:4], prog)
    return firsts
