"""Compare page: N-way table with the references, failed runs listed, figures drawn."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_compare_without_runs_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "empty"))
    at = open_page("pages/compare.py")
    assert_clean(at)
    assert "No runs yet" in texts(at)


def test_compare_table_lists_original_retrain_and_runs(populated):
    at = open_page("pages/compare.py")
    assert_clean(at)
    table = at.table[0].value
    assert list(table.index[:2]) == ["original", "retrain"]
    # both runs changed epochs from their method's default, so each is named by it
    assert {"finetune (epochs=1)", "gradient_ascent (epochs=1)"} <= set(table.index)
    assert any(c.startswith("Forget accuracy") for c in table.columns)
    assert "nan" not in table.to_string().lower()
    assert "Forget set:" in texts(at)
    assert len(at.get("plotly_chart")) >= 5


def test_the_retrain_band_trains_in_the_background_and_calibrates_the_verdicts(populated, lab):
    import time

    record = populated[0]
    at = open_page("pages/compare.py")
    assert_clean(at)
    if lab.cached_band(record["retrain_key"], record["seed"]) is None:
        assert set(at.table[1].value["verdict"]) == {"unverified"}
        assert "No retrain band yet" in texts(at)
        at.button(key="compare_band_train").click().run()
        assert_clean(at)
        deadline = time.monotonic() + 600
        while lab.cached_band(record["retrain_key"], record["seed"]) is None:
            assert time.monotonic() < deadline, "the band did not finish"
            time.sleep(0.5)
        at.run()
    verdicts = at.table[1].value  # re-derived on read: the stored runs are calibrated once the band exists
    assert verdicts.loc["retrain", "verdict"] == "forgotten"
    assert verdicts.loc["original", "verdict"] == "not forgotten"
    assert "Retrain band:" in texts(at)
