"""The report's "does every model learn?" check (benchmark.reporting.report.learning_check)."""

import pandas as pd

from benchmark.reporting.report import _learning_lines, learning_check


def _doc(label, name, metadata):
    return {"system": {"label": label, "name": name, "metadata": metadata}}


def _training(best, identity, silence, source=None):
    return {"training": {"best_l1": best, "identity_l1": identity, "silence_l1": silence, "steps": 100,
                         "best_step": 100, "source": source}}


def _cells(rows):
    return pd.DataFrame([{"label": lab, "kind": "sdr", "metric": "SDR", "task_id": t, "value": v}
                         for lab, t, v in rows])


def test_margin_is_against_the_stronger_do_nothing_system():
    docs = [_doc("good", "good-seed1", _training(0.0190, 0.060, 0.020)),      # 0.95 × 0.020 = 0.0190: passes
            _doc("edge", "edge-seed1", _training(0.0191, 0.060, 0.020)),      # 0.955: fails
            _doc("id", "id-seed1", _training(0.0340, 0.0358, 0.0658))]        # task2: identity is the stronger one
    cells = _cells([(lab, t, 2.0) for lab in ("good", "edge", "id") for t in ("sep-v", "sep-d")])
    out = {e["system"]: e for e in learning_check(docs, cells)}
    assert out["good"]["learns"] and out["good"]["valid_failing"] == []
    assert not out["edge"]["learns"] and out["edge"]["valid_failing"] == ["edge-seed1 (0.955)"]
    assert out["id"]["learns"] and abs(out["id"]["worst_valid_ratio"] - 0.0340 / 0.0358) < 1e-12


def test_every_member_of_a_composite_and_every_sdr_task_counts():
    members = [{"metadata": _training(0.010, 0.06, 0.03, s)} for s in ("vocals", "drums", "bass")]
    members.append({"metadata": _training(0.0229, 0.07, 0.0230, "other")})  # silence level: fails
    docs = [_doc("u7", "u7-seed2020", {"members": members}), _doc("u7", "u7-seed2020", {"members": members})]
    cells = _cells([("u7", "sep-v", 5.0), ("u7", "sep-d", 0.99), ("u7", "sep-b", float("nan"))])
    (e,) = learning_check(docs, cells)
    assert e["runs"] == 4  # the same run seen in two result files is one run
    assert e["valid_failing"] == ["u7-seed2020/other (0.996)"]
    assert e["sdr_min"] == 0.99 and e["sdr_below"] == ["sep-b", "sep-d"] and e["sdr_tasks"] == 3
    assert not e["learns"]
    lines = _learning_lines([e])
    assert "**3 / 4**" in lines[2] and "sep-b, sep-d" in lines[2] and lines[2].endswith("**no** |")


def test_baselines_are_not_listed_and_missing_numbers_fail():
    docs = [_doc("identity", "identity", {"class": "baselines.identity.Identity"}),
            _doc("m", "m-seed1", {"training": {"best_l1": None, "identity_l1": 0.1, "silence_l1": 0.1}})]
    out = learning_check(docs, _cells([("m", "sep-v", 3.0), ("identity", "sep-v", -5.0)]))
    assert [e["system"] for e in out] == ["m"]
    assert out[0]["valid_failing"] == ["m-seed1 (no validation numbers)"] and not out[0]["learns"]
