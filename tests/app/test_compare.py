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
