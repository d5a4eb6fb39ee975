"""One reading of momo's resultInfo for every confirm call (pure), with the answer shapes the public clients show:
Momo.java (undoList/confirmOkList/confirmFailList/confirmRepeatList, okList/failList for stopSendingConfirm),
the TypeScript client's tests (a store finish answers a list of objects, an object may name its row and carry only
counts) and resolveMomoOrderStates (entry formats, a repeat wins, a row in no list is not done)."""

from __future__ import annotations

from platforms.momo.results import interpret, parse_entry, result_infos


def test_each_list_means_what_the_sources_say():
    outcome = interpret(["A1", "A2", "A3", "A4", "A5"], [{
        "undoCnt": "1", "undoList": ["A1"], "confirmOkCnt": "1", "confirmOkList": ["A2"],
        "confirmFailCnt": "1", "confirmFailList": ["A3 : 門市代碼失效"], "confirmRepeatCnt": "1",
        "confirmRepeatList": ["A4"]}])
    assert {no: r.outcome for no, r in outcome.rows.items()} == {
        "A1": "undo", "A2": "ok", "A3": "fail", "A4": "repeat", "A5": "missing"}
    assert outcome.rows["A3"].message == "門市代碼失效"
    assert [no for no, r in outcome.rows.items() if r.done] == ["A2", "A4"]
    assert not outcome.all_done and outcome.messages("fail") == ["A3: 門市代碼失效"]


def test_a_repeat_wins_over_everything_and_ok_over_fail():
    outcome = interpret(["A1", "A2"], [{"confirmFailList": ["A1:timeout", "A2:x"], "confirmRepeatList": ["A1"]},
                                       {"confirmOkList": ["A2"], "undoList": ["A2"]}])
    assert outcome.rows["A1"].outcome == "repeat" and outcome.rows["A2"].outcome == "ok"


def test_the_stop_sending_lists_read_the_same_way():
    outcome = interpret(["A1", "A2", "A3"], [{"undoCnt": "1", "undoList": ["A3"], "okCnt": "1", "okList": ["A1"],
                                              "failCnt": "1", "failList": ["A2 : 不可執行攔貨 待排程處理"]}])
    assert [outcome.rows[n].outcome for n in ("A1", "A2", "A3")] == ["ok", "fail", "undo"]


def test_a_store_finish_answers_a_list_and_per_row_counts():
    """The TypeScript client's fixture: ``resultInfo: [{completeOrderNo: "A1", confirmOkCnt: "1"}]``."""
    infos = result_infos({"resultInfo": [{"completeOrderNo": "A1", "confirmOkCnt": "1"},
                                         {"completeOrderNo": "A2", "confirmRepeatCnt": "1"}]})
    outcome = interpret(["A1", "A2"], infos)
    assert outcome.all_done and [r.outcome for r in outcome.rows.values()] == ["ok", "repeat"]
    assert outcome.raw() == {"resultInfo": [dict(i) for i in infos]}
    assert result_infos({"resultInfo": {"confirmOkList": ["A1"]}}) == ({"confirmOkList": ["A1"]},)
    assert result_infos({"resultInfo": "OK"}) is None and result_infos({}) is None


def test_entry_formats():
    assert parse_entry("20140918203512-001-001-001") == ("20140918203512-001-001-001", None, None)
    assert parse_entry("A1 --- 904512345678") == ("A1", None, "904512345678")
    assert parse_entry("A1 : 門市代碼失效") == ("A1", "門市代碼失效", None)
    assert parse_entry("A1:") == ("A1", None, None)
    assert parse_entry("\tA1\t烏龍茶\t訂單已出貨") == ("A1", "訂單已出貨", None)
    assert parse_entry({"completeOrderNo": "A1", "failMsg": "x"}) == ("A1", "x", None)
    slip = interpret(["A1"], [{"confirmOkList": ["A1 --- 904512345678"]}]).rows["A1"]
    assert slip.done and slip.slip == "904512345678"


def test_counts_without_a_row_name_do_not_invent_results():
    assert interpret(["A1"], [{"confirmOkCnt": "1"}]).rows["A1"].outcome == "missing"
    assert interpret(["A1"], [{"completeOrderNo": "A1", "confirmOkCnt": "zero"}]).rows["A1"].outcome == "missing"
