"""One real local Ray instance per test module (starting one costs seconds; the module's Ray tests share it, and
it is stopped when the module ends, so later tests do not share the cores with its background processes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_instance():
    """`ray.init(num_cpus=2)`, its workers importing this checkout (as RayExecutor sets it up for a local
    instance); sweeps find it running, use it and leave it running."""
    ray = pytest.importorskip("ray")
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           **({"UNLEARN_DATA": os.environ["UNLEARN_DATA"]} if "UNLEARN_DATA" in os.environ else {})}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()
