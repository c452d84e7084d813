"""Studies: orchestration above the Lab that trains and unlearns many models for one question.

U-LiRA's shadow pairs (`studies.ulira`), multi-seed comparisons (`studies.seeds`), sweeps over grids of method
parameters and seeds (`studies.sweep`, run on `studies.executors`), the retrain band that calibrates verdicts
(`studies.band`) and the NeurIPS 2023 forgetting quality (`studies.forgetting_quality`) live here. A study calls
the Lab and `methods.execute_method`; the layers below (methods, metrics, models, data, viz) never import a study or the
Lab, so every import arrow in the engine points down (tests/unit/test_core_boundaries.py).
"""
