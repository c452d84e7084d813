"""Notes the pages print beside a number that is easy to misread."""

from __future__ import annotations

from unlearn_core.viz.captions import ulira_below_chance


def test_ulira_below_chance_gets_a_note_saying_what_it_means():
    note = ulira_below_chance(0.38)
    assert "0.38, below chance (0.5)" in note and "not mean the run forgot better than retrain" in note
    assert "0.62" in note  # what the reversed rule would score
    assert ulira_below_chance(0.5) is None and ulira_below_chance(0.71) is None and ulira_below_chance(None) is None
