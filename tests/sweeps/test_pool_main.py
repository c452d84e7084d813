"""The local pool's processes never run this process's __main__ again. Under Streamlit, __main__ is the page
script (Streamlit installs the script it runs as the __main__ module, with a __file__ and no __spec__), and
multiprocessing would otherwise execute that file in the manager process and in every worker."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.store import Store
from unlearn_core.studies.sweep import MethodGrid, SweepSpec, run_sweep


def test_pool_workers_do_not_run_a_script_installed_as_main(tmp_path: Path, monkeypatch):
    marker = tmp_path / "page-script-ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)  # what Streamlit's script runner installs: a file, no module spec
    monkeypatch.setitem(sys.modules, "__main__", page)
    spec = SweepSpec(experiment_from_args("digits", "mlp", 0, epochs=1), (ForgetSpec(classes=(3,)),),
                     (MethodGrid.of("finetune", epochs=[1]),), seeds=(0, 1), seed_base=False)
    lab = Lab(Store(tmp_path / "home"), device="cpu")
    result = run_sweep(spec, executor="local", workers=2, lab=lab, device="cpu")
    assert [c.status for c in result.cells] == ["ok", "ok"]
    assert not marker.exists(), marker.read_text()
    assert sys.modules["__main__"] is page  # put back after the pool started
