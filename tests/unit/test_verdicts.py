"""Evidence-based verdicts against the retrain band; the multi-seed aggregation; the relearn probe."""

import pytest
import torch

from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.metrics.relearn import RelearnConfig, relearn_probe
from unlearn_core.metrics.seeds import aggregate, scalar_values
from unlearn_core.metrics.verdicts import LABELS, bands_from_references, verdict

BANDS = {"forget_acc": [0.0, 0.0], "retain_acc": [0.99, 1.0], "test_acc": [0.88, 0.89],
         "test_acc_retain_classes": [0.98, 0.99], "loss_auc": [0.93, 0.95], "svc_confidence": [1.0, 1.0],
         "svc_entropy": [0.55, 0.75], "threshold_confidence": [0.5, 0.6], "threshold_entropy": [0.5, 0.63],
         "probe": [0.95, 0.97]}
BAND = {"k": 2, "retrain_seeds": [1, 2], "bands": BANDS}


def signals(values: dict, vs_original: float | None = None, width: float = 0.0) -> dict:
    """A metrics dict whose signals take `values` (missing ones: the band's middle), each CI +- width."""
    out = {}
    for name, (lo, hi) in BANDS.items():
        v = values.get(name, (lo + hi) / 2)
        if v is not None:
            out[name] = {"value": v, "ci": [v - width, v + width]}
    vs = {} if vs_original is None else {s: {"value": vs_original, "ci": [vs_original, vs_original]}
                                         for s in ("confidence", "entropy")}
    return {"forget_acc": values.get("forget_acc", 0.0), "test_acc_retain_classes": values.get(
        "test_acc_retain_classes", 0.985), "signals": {"values": out, "vs_original": vs}}


ORIGINAL = signals({"forget_acc": 1.0, "test_acc": 0.98, "loss_auc": 0.67, "svc_confidence": 0.08,
                    "threshold_confidence": 1.0, "threshold_entropy": 1.0, "probe": 1.0})
RETRAIN = signals({"forget_acc": 0.0, "threshold_confidence": 0.5, "threshold_entropy": 0.5})


def label(metrics: dict, band: dict | None = BAND, role: str = "run") -> str:
    return verdict(metrics, ORIGINAL, RETRAIN, band, role)["label"]


def test_every_label_has_one_definition():
    assert set(LABELS) == {"forgotten", "nothing to forget", "forgotten, utility damaged", "partly forgotten",
                           "not forgotten", "over-forgotten", "did nothing", "unverified"}
    assert all(tone in ("good", "fair", "bad", "none") and text for tone, text in LABELS.values())


def test_top_label_only_when_every_measured_signal_is_within_the_band():
    v = verdict(signals({}, vs_original=1.0), ORIGINAL, RETRAIN, BAND)
    assert v["label"] == "forgotten" and all(e["within"] for e in v["evidence"])
    assert {tuple(e) for e in v["evidence"]} == {("signal", "value", "band", "within", "why")}
    one_out = signals({"threshold_confidence": 0.9}, vs_original=1.0)
    assert label(one_out) == "partly forgotten"
    assert label(signals({"forget_acc": 0.4, "threshold_confidence": 0.9}, vs_original=1.0)) == "partly forgotten"
    assert label(signals({"forget_acc": 0.9, "threshold_confidence": 0.9}, vs_original=1.0)) == "not forgotten"
    assert label(ORIGINAL, role="original") == "not forgotten"


def test_the_ci_decides_within_so_measurement_noise_is_not_a_failure():
    near = signals({"threshold_entropy": 0.66}, vs_original=1.0)
    assert label(near) == "partly forgotten"
    assert label(signals({"threshold_entropy": 0.66}, vs_original=1.0, width=0.04)) == "forgotten"


def test_not_measured_never_passes_and_no_band_is_unverified():
    v = verdict(signals({}, vs_original=1.0), ORIGINAL, RETRAIN, None)
    assert v["label"] == "unverified" and all(e["within"] is None for e in v["evidence"])
    missing_required = signals({"threshold_entropy": None}, vs_original=1.0)
    assert label(missing_required) == "unverified"
    missing_optional = signals({"loss_auc": None}, vs_original=1.0)
    v = verdict(missing_optional, ORIGINAL, RETRAIN, BAND)
    entry = next(e for e in v["evidence"] if e["signal"] == "loss_auc")
    assert entry["within"] is None and entry["value"] is None and "not measured" in entry["why"]
    assert v["label"] == "forgotten" and "not measured: Loss-attack AUC" in v["text"]


def test_utility_is_part_of_the_verdict():
    damaged = signals({"test_acc_retain_classes": 0.73, "retain_acc": 0.73, "test_acc": 0.65}, vs_original=1.0)
    v = verdict(damaged, ORIGINAL, RETRAIN, BAND)
    assert v["label"] == "forgotten, utility damaged" and v["utility"] == "utility damaged"
    assert verdict(signals({}, vs_original=1.0), ORIGINAL, RETRAIN, BAND)["utility"] == "utility kept"


def test_a_run_whose_outputs_equal_the_originals_did_nothing():
    unchanged = {**ORIGINAL, "signals": {**ORIGINAL["signals"], "vs_original": {
        s: {"value": 0.5, "ci": [0.5, 0.52]} for s in ("confidence", "entropy")}}}
    v = verdict(unchanged, ORIGINAL, RETRAIN, BAND)
    assert v["label"] == "did nothing" and "the forget set is still there" in v["text"]
    in_band_original = signals({}, vs_original=0.5)
    v = verdict(in_band_original, in_band_original, RETRAIN, BAND)
    assert v["label"] == "did nothing" and "nothing needed forgetting" in v["text"]
    assert verdict(in_band_original, in_band_original, RETRAIN, BAND, "original")["label"] == "nothing to forget"
    # retrain on random forgetting: its outputs are near the original's, but its forget accuracy moved into the band
    moved = signals({}, vs_original=0.5)
    near_original = signals({"forget_acc": 0.0}, vs_original=0.5)
    near_original["signals"]["values"]["forget_acc"] = {"value": 0.05, "ci": [0.03, 0.07]}
    assert verdict(moved, near_original, RETRAIN, BAND)["label"] == "forgotten"


def test_over_forgetting_on_random_forgetting():
    bands = {**BANDS, "forget_acc": [0.97, 0.99]}
    over = signals({"forget_acc": 0.5}, vs_original=1.0)
    over["signals"]["values"]["forget_acc"] = {"value": 0.5, "ci": [0.42, 0.58]}
    assert verdict(over, ORIGINAL, RETRAIN, {**BAND, "bands": bands})["label"] == "over-forgotten"


def test_bands_from_references_are_the_range_and_chance_for_pairwise_signals():
    oracle = {"forget_acc": {"value": 0.0}, "threshold_confidence": {"value": 0.5}}
    retrains = [{"forget_acc": {"value": 0.02}, "threshold_confidence": {"value": 0.6}},
                {"forget_acc": {"value": 0.01}, "threshold_confidence": {"value": 0.55}}]
    bands = bands_from_references(oracle, retrains)
    assert bands["forget_acc"] == [0.0, 0.02] and bands["threshold_confidence"] == [0.5, 0.6]


def test_seed_aggregation_mean_and_sample_std():
    per_seed = [{"seed": s, "runs": [{"method": "ga", "values": {"forget_acc": v}}]} for s, v in enumerate([0.1, 0.3])]
    (row,) = aggregate(per_seed)
    assert row["mean"] == pytest.approx(0.2) and row["std"] == pytest.approx(0.1414213, rel=1e-5) and row["n"] == 2
    values = scalar_values({"forget_acc": 0.5, "test_acc": float("nan"),
                            "privacy": {"attacks": {"svc_entropy": 0.25, "threshold": {"privacy_score": 0.9}}}})
    assert values == {"forget_acc": 0.5, "svc_entropy": 0.25, "threshold_privacy_score": 0.9}


def _toy_splits():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 1, 4, 4, generator=gen) * 0.1 + y.view(-1, 1, 1, 1).float()
    data = ImageDataset("toy", x, y, x[:9], y[:9], ["a", "b", "c"], (0.0,), (1.0,))
    return Splits.build(data, ForgetSpec(classes=(2,)))


def test_relearn_probe_counts_steps_and_zero_for_a_model_that_never_forgot():
    splits = _toy_splits()
    torch.manual_seed(0)
    blank = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        blank[1].weight.zero_()
        blank[1].bias.copy_(torch.tensor([1.0, 0.0, -5.0]))  # predicts class 0: forget accuracy 0
    knows = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        knows[1].weight.zero_()
        knows[1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # predicts class 2: forget accuracy 1
    cfg = RelearnConfig(lr=0.1, max_steps=100)
    probe = relearn_probe(blank, knows, blank, splits, cfg)
    assert probe["target_acc"] == pytest.approx(0.9)
    assert probe["unlearned"]["curve"][0] == 0.0
    assert probe["unlearned"]["reached"] and probe["unlearned"]["steps"] >= 1
    assert probe["unlearned"]["steps"] == probe["retrain"]["steps"]  # same model, same seed
    assert relearn_probe(knows, knows, knows, splits, cfg)["unlearned"]["steps"] == 0


def test_evidence_tables_and_figure_show_values_cis_and_bands():
    from unlearn_core.viz import verdict as vv

    run = signals({"threshold_confidence": 0.9}, vs_original=1.0, width=0.02)
    run["verdict"] = verdict(run, ORIGINAL, RETRAIN, BAND)
    table = vv.evidence_table(run)
    row = table.set_index("signal").loc["Threshold attack vs retrain (confidence)"]
    assert row["value"] == "90.0%" and row["95% CI"] == "88.0% to 92.0%" and row["within"] == "outside"
    assert row["band (retrains)"] == "50.0% to 60.0%"
    figure = vv.evidence_figure(run)
    marks = [t for t in figure.data if t.type == "scatter"]
    assert {t.name for t in marks} == {"within the band", "outside the band"}
    assert all(t.error_x.array is not None for t in marks)
    summary = vv.verdict_summary([{"label": "run", "metrics": run}])
    assert summary.loc["run", "verdict"] == "partly forgotten"
    assert summary.loc["run", "Threshold attack vs retrain (confidence)"] == "✗ 90.0%"
    run["signals"]["tpr_at_fpr"] = {"loss": {"0.01": 0.25, "0.001": 0.0}}
    assert vv.tpr_table({"run": run}).loc["run", "Loss attack TPR@1% FPR"] == 0.25


def test_the_seed_table_says_how_many_seeds_succeeded():
    from unlearn_core.viz.privacy import seeds_table

    per_seed = [{"seed": 0, "runs": [{"method": "ga", "status": "ok", "values": {"forget_acc": 0.1}}]},
                {"seed": 1, "runs": [{"method": "ga", "status": "failed", "values": {}}]}]
    summary = {"seeds": [0, 1], "methods": ["ga"], "metrics": ["forget_acc"], "per_seed": per_seed,
               "table": aggregate(per_seed)}
    assert seeds_table(summary).loc["ga", "seeds ok"] == "1 of 2"
