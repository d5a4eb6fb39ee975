"""One reading of momo's ``resultInfo`` for every state-changing call (pure: no network).

``unsendCompanyConfirm``, ``unsendStoresFinish``, ``unsendThirdFinish`` and ``stopSendingConfirm`` all answer
per-row lists (Momo.java, the C# client, ``resolveMomoOrderStates`` of the TypeScript client):

============================================  =====================  ============================================
list                                          outcome                meaning
============================================  =====================  ============================================
``undoList``                                  ``undo``               not executed: send it again
``confirmFailList`` / ``failList``            ``fail``               refused, with momo's reason
``confirmOkList`` / ``okList``                ``ok``                 done now
``confirmRepeatList`` / ``repeatList``        ``repeat``             done before (a repeat): success
(in no list)                                  ``missing``            not done (momo did not report it)
============================================  =====================  ============================================

A row named in several lists takes the strongest outcome (undo < fail < ok < repeat, as the TypeScript client
resolves them: a repeat is what a retry of a done row must meet). ``resultInfo`` may be one object or a list of
objects (the store finish answers a list); an object that names its ``completeOrderNo`` and carries only counts
(``confirmOkCnt: "1"``) speaks for that row. Entries are the bare number, ``"<no> --- <slip>"`` (an ok row with
its slip number), ``"<no> : <reason>"`` / ``"<no>:<reason>"`` or momo's tab-separated ``"\\t<no>\\t<goods>\\t
<reason>"``; objects ``{completeOrderNo, failMsg|msg|message}`` are read too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RowResult", "Outcome", "interpret", "result_infos", "parse_entry", "LISTS"]

#: list names per outcome, weakest outcome first (a stronger one wins for a row named twice)
LISTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("undo", ("undoList",)),
    ("fail", ("confirmFailList", "failList")),
    ("ok", ("confirmOkList", "okList")),
    ("repeat", ("confirmRepeatList", "repeatList")),
)
#: count fields of a per-row object without lists (``{completeOrderNo, confirmOkCnt: "1"}``)
COUNTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("undo", ("undoCnt",)), ("fail", ("confirmFailCnt", "failCnt")), ("ok", ("confirmOkCnt", "okCnt")),
    ("repeat", ("confirmRepeatCnt", "repeatCnt")),
)
_RANK = {name: rank for rank, (name, _lists) in enumerate(LISTS)}


@dataclass(frozen=True)
class RowResult:
    """What momo reported for one row: ``outcome`` (undo/fail/ok/repeat/missing), its message, its slip."""

    outcome: str
    message: str | None = None
    slip: str | None = None

    @property
    def done(self) -> bool:
        """The row's change is in place at momo (now or before)."""
        return self.outcome in ("ok", "repeat")


@dataclass(frozen=True)
class Outcome:
    """Every requested row's result, plus the answers as received."""

    rows: Mapping[str, RowResult]
    infos: tuple[Mapping[str, Any], ...]

    def of(self, outcome: str) -> list[str]:
        return [no for no, r in self.rows.items() if r.outcome == outcome]

    @property
    def all_done(self) -> bool:
        return all(r.done for r in self.rows.values())

    def messages(self, outcome: str) -> list[str]:
        """``"<no>: <message>"`` of the rows with this outcome (the number alone when momo gave no reason)."""
        return [f"{no}: {r.message}" if r.message else no for no, r in self.rows.items() if r.outcome == outcome]

    def raw(self) -> dict[str, Any]:
        """JSON-ready: the answers as received (one object, or the list momo sent)."""
        return {"resultInfo": list(self.infos) if len(self.infos) != 1 else dict(self.infos[0])}


def result_infos(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...] | None:
    """``resultInfo`` as a tuple of objects (it may be one object or a list); None when absent or malformed."""
    info = body.get("resultInfo")
    if isinstance(info, Mapping):
        return (info,)
    if isinstance(info, list) and all(isinstance(i, Mapping) for i in info):
        return tuple(info)
    return None


def parse_entry(entry: Any) -> tuple[str, str | None, str | None]:
    """(completeOrderNo, message, slip) of one list entry in any of the known formats (module doc)."""
    if isinstance(entry, Mapping):
        number = str(entry.get("completeOrderNo") or "").strip()
        text = entry.get("failMsg") or entry.get("msg") or entry.get("message") or entry.get("reason")
        return number, str(text).strip() if text else None, None
    text = str(entry)
    if "\t" in text:
        parts = [p.strip() for p in text.split("\t") if p.strip()]
        return (parts[0] if parts else ""), (parts[-1] if len(parts) > 1 else None), None
    if " --- " in text:
        number, _, slip = text.partition(" --- ")
        return number.strip(), None, slip.strip() or None
    number, sep, message = text.partition(":")
    return number.strip(), (message.strip() or None) if sep else None, None


def _count(info: Mapping[str, Any], names: Iterable[str]) -> int:
    for name in names:
        try:
            return int(str(info.get(name) or 0).strip() or 0)
        except ValueError:
            continue
    return 0


def interpret(requested: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> Outcome:
    """Each requested row's :class:`RowResult` from momo's answer objects (see the module doc)."""
    found: dict[str, RowResult] = {}

    def put(number: str, result: RowResult) -> None:
        current = found.get(number)
        if current is None or _RANK[result.outcome] >= _RANK[current.outcome]:
            found[number] = result

    for info in infos:
        listed = False
        for outcome, names in LISTS:
            for name in names:
                for entry in info.get(name) or []:
                    number, message, slip = parse_entry(entry)
                    if number:
                        listed = True
                        put(number, RowResult(outcome, message, slip))
        own = str(info.get("completeOrderNo") or "").strip()
        if own and not listed:
            for outcome, names in COUNTS:
                if _count(info, names) > 0:
                    put(own, RowResult(outcome))
    rows = {no: found.get(no) or RowResult("missing", "momo reported no result for this row") for no in requested}
    return Outcome(rows=rows, infos=tuple(infos))
