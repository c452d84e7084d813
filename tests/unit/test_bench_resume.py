"""A long benchmark stopped after some cases keeps them in a partial table, and `--resume` runs only the rest:
the finished cases are kept as they were, each case says when it ran, and a table that does not match the
scenario is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn_core import UserInputError, bench
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import experiment_from_args


def _tiny(device) -> bench.Scenario:
    cases = tuple(bench.Case(f"class {c}", ForgetSpec(classes=(c,)), ("finetune",), {"finetune": {"epochs": 1}})
                  for c in (3, 5))
    spec = experiment_from_args("digits", "mlp", 0, epochs=1)
    return bench.Scenario("tiny", "digits MLP, 1 epoch, two classes", spec, cases, repeats=1)


class Stopped(Exception):
    pass


def test_a_stopped_benchmark_resumes_from_its_first_unfinished_case(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(bench.SCENARIOS, "tiny", _tiny)
    monkeypatch.setitem(bench.PREFERRED_DEVICE, "tiny", "cpu")
    real_run_case = bench._run_case
    ran: list[str] = []

    def stop_at_second(lab, sc, case, *args):
        if case.label == "class 5":
            raise Stopped
        ran.append(case.label)
        return real_run_case(lab, sc, case, *args)

    monkeypatch.setattr(bench, "_run_case", stop_at_second)
    with pytest.raises(Stopped):
        bench.run_bench("tiny", out_dir=tmp_path)
    partial = json.loads((tmp_path / "tiny.json").read_text())
    assert partial["unfinished"] == ["class 5"] and [c["label"] for c in partial["cases"]] == ["class 3"]
    assert "**Partial table**" in (tmp_path / "tiny.md").read_text()

    def count(lab, sc, case, *args):
        ran.append(case.label)
        return real_run_case(lab, sc, case, *args)

    monkeypatch.setattr(bench, "_run_case", count)
    result = bench.run_bench("tiny", out_dir=tmp_path, resume=True)
    assert ran == ["class 3", "class 5"]  # the first case ran once, in the stopped call
    assert result["cases"][0] == partial["cases"][0] and "unfinished" not in result
    assert result["created"] == partial["created"] and result["load_before"] == partial["load_before"]
    # the device label names the threads the cases ran with (not torch's default, restored after the run)
    assert result["device"] == partial["device"] == f"cpu ({result['threads']} threads)"
    markdown = (tmp_path / "tiny.md").read_text()
    assert "**Partial table**" not in markdown and markdown.count("Case recorded") == 2
    # the second case's base model came from the first case's call: trained again there, not timed again
    assert not any(t["model"].startswith("base") for t in result["cases"][1]["training"])

    with pytest.raises(UserInputError, match="finished table"):
        bench.run_bench("tiny", out_dir=tmp_path, resume=True)
    partial["description"] = "another definition"
    (tmp_path / "tiny.json").write_text(json.dumps(partial))
    with pytest.raises(UserInputError, match="description differ"):
        bench.run_bench("tiny", out_dir=tmp_path, resume=True)
    with pytest.raises(UserInputError, match="give --out-dir"):
        bench.run_bench("tiny", resume=True)
