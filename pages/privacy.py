"""Forget quality: can an attacker tell a run from the retrain oracle? Attacks, U-LiRA-lite, CKA, embedding,
relearn probe, multi-seed spread and the run's verdict. Layout only; every number comes from unlearn_core."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from pages._ui import band as band_ui
from pages._ui import common
from pages._ui import state as S
from unlearn_core import UserInputError
from unlearn_core.data import Splits
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import list_methods
from unlearn_core.metrics.cka import embedding_links
from unlearn_core.metrics.relearn import RelearnConfig, relearn_probe
from unlearn_core.metrics.threshold import STATISTICS, forget_statistics, threshold_explorer
from unlearn_core.metrics.ulira import ULiRAConfig
from unlearn_core.metrics.verdicts import LABELS, label_tone
from unlearn_core.results import RunRecord
from unlearn_core.studies.band import ulira_evidence
from unlearn_core.studies.executors import EXECUTORS
from unlearn_core.studies.forgetting_quality import DEFAULT_MODELS, fq_cost, run_forgetting_quality
from unlearn_core.studies.forgetting_quality import store_key as fq_store_key
from unlearn_core.studies.seeds import compare_over_seeds
from unlearn_core.studies.ulira import ulira_for_run
from unlearn_core.viz import captions
from unlearn_core.viz import privacy as viz
from unlearn_core.viz import verdict as verdict_viz


def _splits(record: RunRecord) -> Splits:
    return Splits.build(common.dataset_for(record), record.forget_spec(), common.lab().device)


@st.cache_data(show_spinner=False, max_entries=32)
def _statistics(run_id: str, _record: RunRecord) -> dict[str, dict[str, np.ndarray]]:
    splits = _splits(_record)
    x, y = splits.forget()
    models = {"original": common.base_for(_record).model, "unlearned": common.run_model(run_id),
              "retrain": common.retrain_for(_record).model}
    return {name: forget_statistics(model, x, y) for name, model in models.items()}


def _job(store_key: str, key: str) -> Any:
    job_id = st.session_state.get(store_key, {}).get(key)
    return common.runner().get(job_id) if job_id else None


def _remember_job(store_key: str, key: str, job_id: str) -> None:
    st.session_state[store_key] = {**st.session_state.get(store_key, {}), key: job_id}


def verdict_panel(record: RunRecord) -> None:
    st.subheader("Verdict")
    band_ui.band_panel(record, "privacy")
    verdict = record.metrics.get("verdict")
    if not verdict or "evidence" not in verdict:
        st.info("This run was stored before calibrated verdicts existed; run it again to get one.")
        return
    icon = {"good": ":material/check_circle:", "fair": ":material/warning:", "bad": ":material/cancel:",
            "none": ":material/help:"}[label_tone(verdict["label"])]
    st.markdown(f"### {icon} {verdict['text']}")
    st.caption(f"Utility: {verdict['utility']}. *{verdict['label']}* means: {LABELS[verdict['label']][1]}.")
    st.plotly_chart(verdict_viz.evidence_figure(record.metrics), key="privacy_evidence_fig")
    st.dataframe(verdict_viz.evidence_table(record.metrics), key="privacy_evidence_table", hide_index=True)
    st.caption(captions.EVIDENCE)


def attack_panel(record: RunRecord, run_id: str) -> None:
    st.subheader("Attacks")
    st.caption(captions.PRIVACY_ATTACKS)
    entries = {"original": record.original, "unlearned": record.metrics, "retrain": record.retrain}
    st.dataframe(viz.attack_table(entries), key="privacy_attack_table")
    st.dataframe(verdict_viz.tpr_table(entries), key="privacy_tpr_table")
    st.caption(captions.TPR_AT_LOW_FPR)
    stats = _statistics(run_id, record)
    statistic = st.radio("Statistic of the threshold attack", STATISTICS, horizontal=True, key=S.W_PRIVACY_STAT)
    values = np.concatenate([s[statistic] for s in stats.values()])
    lo, hi = float(np.floor(values.min())), float(np.ceil(values.max()))
    best = threshold_explorer(stats, statistic)["threshold"]
    key = f"{S.W_PRIVACY_THRESHOLD}_{run_id}_{statistic}"
    threshold = st.slider("Threshold", lo, hi, float(np.clip(best, lo, hi)), step=(hi - lo) / 200 or 0.01, key=key)
    view = threshold_explorer(stats, statistic, threshold)
    st.caption("Threshold explorer: histograms of the forget images' statistic under each model. The attack calls "
               "a value on the 'unlearned' side of the dashed line 'unlearned'; its accuracy is the mean of the hit "
               "rates on the two models (0.5 = chance). The default threshold is the strongest one.")
    left, right = st.columns(2)
    with left:
        common.chart(viz.distribution_figure(view), key="privacy_distributions")
    with right:
        common.chart(viz.sweep_figure(view), key="privacy_sweep")
    for name, entry in view["vs_retrain"].items():
        at = entry["at_threshold"]
        st.markdown(f"**{name} vs retrain** at {threshold:.2f}: accuracy {at['accuracy']:.2f}, FPR {at['fpr']:.2f}, "
                    f"FNR {at['fnr']:.2f} · strongest threshold {entry['best']['threshold']:.2f} "
                    f"(accuracy {entry['best']['best_accuracy']:.2f}, privacy score "
                    f"{entry['best']['privacy_score']:.2f})")


def ulira_panel(record: RunRecord, run_id: str) -> None:
    st.subheader("U-LiRA-lite (per-image attack)")
    st.caption("Trains K pairs of shadow models on random halves of the data (each: original → unlearned with this "
               "method, and retrained without the forget set), fits per image a Gaussian to each side, and asks of "
               "this run and of retrain which side they are on. **Accuracy 0.5 = the attacker cannot tell this run "
               "from retrain.** The images it identifies most confidently are shown below. Fewer shadow epochs "
               "are faster but make the shadows less confident than this run (noted in the result).")
    c1, c2, c3, c4 = st.columns(4)
    pairs = c1.number_input("Shadow pairs K", 2, 64, 8, key=S.W_ULIRA_K)
    epochs = c2.number_input("Shadow epochs (0 = the original's recipe)", 0, 200, 0, key=S.W_ULIRA_EPOCHS)
    target = c3.radio("Attack", ("this run", "the original model"), horizontal=True, key=S.W_ULIRA_TARGET)
    executor = c4.radio("Shadow pairs run on", EXECUTORS, key=S.W_ULIRA_EXECUTOR,
                        captions=[common.EXECUTOR_HELP[e] for e in EXECUTORS],
                        help="Each shadow pair is one sweep cell, stored once: a rerun with more pairs trains only "
                             "the new ones, whichever executor ran the others.")
    cfg = ULiRAConfig(shadow_pairs=int(pairs), shadow_epochs=int(epochs) or None)
    job_key = run_id if target == "this run" else f"original:{run_id}"
    if st.button("Run U-LiRA-lite in the background", key=S.W_ULIRA_GO):
        lab = common.lab()
        original = target != "this run"

        def work(progress, stop):
            result = ulira_for_run(lab, run_id, cfg, original=original, progress=progress, stop=stop,
                                   executor=executor)
            if not original:
                ulira_evidence(lab, run_id, result)  # the verdict counts U-LiRA from now on
            return result

        title = f"U-LiRA-lite · {'the original model of ' if original else ''}{record.method}"
        _remember_job(S.ULIRA_JOBS, job_key, common.submit("privacy", title, work))
        st.rerun()
    job = _job(S.ULIRA_JOBS, job_key)
    if job is None:
        st.caption(f"K={cfg.shadow_pairs} trains {2 * cfg.shadow_pairs} models on half the data plus "
                   f"{cfg.shadow_pairs} unlearning runs: roughly {cfg.shadow_pairs} times the cost of training the "
                   "original model once.")
        return
    if not job.done:
        common.live_job(job.id, "U-LiRA-lite")
        st.caption("The queue above can cancel it.")
        return
    if job.status != "ok":
        st.error(f"U-LiRA-lite {job.status}: {job.error or 'no reason recorded'}")
        return
    result = job.result
    shadow = result.get("shadow_accuracy")
    attacked = "this run" if target == "this run" else "the original"
    epochs_used = result["config"]["shadow_epochs"] or "as the original"
    st.markdown(f"**Attack accuracy {result['accuracy']:.2f}** on {attacked} vs retrain (hit rate "
                f"{result['true_positive_rate']:.2f} on it, {result['true_negative_rate']:.2f} on retrain)"
                + (f" · leave-one-pair-out on the shadows {shadow:.2f}" if shadow is not None else "")
                + f" · {result['seconds']:.0f} s, K={result['config']['shadow_pairs']}, shadow epochs {epochs_used}")
    below = captions.ulira_below_chance(result["accuracy"])
    if below:
        st.info(below, icon=":material/info:")
    common.chart(viz.ulira_figure(result), key="privacy_ulira")
    dataset = common.dataset_for(record)
    exposed = result["most_exposed"][:12]
    if exposed:
        st.caption("Most exposed forget images (largest likelihood ratio for 'unlearned, not retrained'):")
        images = dataset.to_display(dataset.x_train[[e["train_index"] for e in exposed]])
        cols = st.columns(len(exposed))
        for col, entry, image in zip(cols, exposed, images, strict=True):
            col.image(image, caption=f"#{entry['train_index']} · {entry['llr']:.1f}", width=64, clamp=True)


def forgetting_quality_panel(record: RunRecord, run_id: str) -> None:
    st.subheader("NeurIPS 2023 forgetting quality")
    st.caption("The unlearning challenge's score: N models unlearned with this method (N seeds, from the same "
               "original) against N retrained models (the band's retrains). Per forget image, how well any "
               "threshold tells the two sets of outputs apart gives an epsilon; epsilons are scored in buckets "
               "(1, ½, ¼, …) and averaged, then scaled by retain and test accuracy against retrain's. 1 = cannot "
               "be told from retraining. A deterministic method scores 0 (its N models are identical, unlike "
               "retrains), as in the challenge.")
    lab = common.lab()
    left, right = st.columns([1, 3])
    n = int(left.number_input("Models per side N", 3, 64, DEFAULT_MODELS, key=S.W_FQ_N))
    cost = fq_cost(lab, record, n)
    eta = "" if cost["seconds_estimate"] is None else f", about {cost['seconds_estimate']:.0f} s"
    stored = lab.store.get_eval(fq_store_key(run_id, n))
    if right.button(f"Compute in the background ({cost['unlearning_runs']} unlearning runs, "
                    f"{cost['retrains_to_train']} retrains to train{eta})", key=S.W_FQ_GO, disabled=stored is not None):
        def work(progress, stop):
            return run_forgetting_quality(lab, run_id, n, progress=progress, stop=stop)
        _remember_job(S.FQ_JOBS, f"{run_id}:{n}", common.submit("privacy", f"forgetting quality · {record.method}",
                                                               work))
        st.rerun()
    job = _job(S.FQ_JOBS, f"{run_id}:{n}")
    if stored is None and job is not None:
        if not job.done:
            common.live_job(job.id, "Forgetting quality")
        elif job.status != "ok":
            st.error(f"Forgetting quality {job.status}: {job.error or 'no reason recorded'}")
        return
    if stored is not None:
        st.markdown(f"**Forgetting quality F = {stored['forgetting_quality']:.3f}**, score after utility "
                    f"{stored['score']:.3f} (utility factor {stored['utility_factor']:.3f}) · N = {stored['n']}, "
                    f"{stored['seconds']:.0f} s")
        st.plotly_chart(verdict_viz.epsilon_figure(stored), key="privacy_fq_fig")


def representation_panel(record: RunRecord, run_id: str) -> None:
    st.subheader("Representations")
    cka = record.metrics.get("privacy", {}).get("cka", {})
    st.caption("Linear CKA of each layer of this run against the original (grey) and retrain (green), on forget "
               "(solid) and retain (dotted) images. 1 = the same geometry. A run that forgot deeply moves its forget-"
               "image CKA towards retrain's in the later layers; one that only edited the head stays at 1 vs original.")
    common.chart(viz.cka_figure(cka), key="privacy_cka")
    method = st.radio("Embedding", ("pca", "tsne"), horizontal=True, key=S.W_EMBED,
                      format_func=lambda m: "PCA (instant)" if m == "pca" else "t-SNE (a few seconds)")
    if method == "pca" or st.button("Compute t-SNE", key=S.W_EMBED_GO):
        with st.spinner("embedding penultimate features"):
            emb = embedding_links(common.base_for(record).model, common.run_model(run_id), _splits(record), method,
                                  seed=int(record.seed or 0))
        st.caption("Penultimate features of the original and this run in one 2-D map; each red line goes from a "
                   "forget image's position in the original (open circle) to its position after unlearning (x).")
        common.chart(viz.embedding_figure(emb, common.dataset_for(record).class_names), key="privacy_embedding_fig")


def relearn_panel(record: RunRecord, run_id: str) -> None:
    st.subheader("Relearn probe")
    st.caption("Fine-tune a copy on the forget images and count the steps until forget accuracy is back to 90% of "
               "the original's. Few steps = the knowledge was hidden, not removed; retrain's count is the reference.")
    c1, c2, c3 = st.columns([1, 1, 1])
    lr = c1.select_slider("Learning rate", options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3, key=S.W_RELEARN_LR)
    steps = c2.number_input("Max steps", 10, 2000, 200, key=S.W_RELEARN_STEPS)
    if c3.button("Run the relearn probe", key=S.W_RELEARN_GO):
        with st.spinner("relearning"):
            probe = relearn_probe(common.run_model(run_id), common.base_for(record).model,
                                  common.retrain_for(record).model, _splits(record),
                                  RelearnConfig(lr=float(lr), max_steps=int(steps)), seed=int(record.seed or 0))
        # kept in the session, per run, so the result outlives the next click on this page
        st.session_state[S.RELEARN_RESULTS] = {**st.session_state.get(S.RELEARN_RESULTS, {}),
                                               run_id: {"lr": float(lr), "steps": int(steps), "probe": probe}}
    kept = st.session_state.get(S.RELEARN_RESULTS, {}).get(run_id)
    if kept is None:
        return
    probe, max_steps = kept["probe"], kept["steps"]
    u, r = probe["unlearned"].get("steps"), probe["retrain"].get("steps")
    never = f"more than {max_steps}"
    st.markdown(f"Steps to {probe['target_acc']:.2f} forget accuracy (learning rate {kept['lr']:g}, at most "
                f"{max_steps} steps): **this run {never if u is None else u}**, retrain {never if r is None else r}")
    common.chart(viz.relearn_figure(probe), key="privacy_relearn")


def seeds_panel(record: RunRecord, spec: ExperimentSpec) -> None:
    st.subheader("Over several seeds")
    st.caption("Runs the chosen methods again with N seeds (a new original model and a new method seed each time) "
               "and shows mean ± standard deviation, so a difference smaller than the spread is not read as real.")
    forget = record.forget_spec()
    c1, c2, c3 = st.columns([3, 1, 1])
    methods = c1.multiselect("Methods", list_methods(), default=[record.method], key=S.W_SEED_METHODS)
    count = c2.number_input("Seeds", 2, 10, 3, key=S.W_SEED_COUNT)
    scenario = f"{spec.key}|{forget.key}"
    if c3.button("Run over seeds", key=S.W_SEED_GO, disabled=not methods):
        lab = common.lab()

        def work(progress, stop):
            return compare_over_seeds(lab, spec, forget, methods, seeds=list(range(int(count))), progress=progress,
                                      stop=stop)
        job_id = common.submit("privacy", f"{len(methods)} method(s) × {count} seeds", work)
        _remember_job(S.SEED_JOBS, scenario, job_id)
        st.rerun()
    job = _job(S.SEED_JOBS, scenario)
    if job is None:
        return
    if not job.done:
        common.live_job(job.id, "Over seeds")
    elif job.status != "ok":
        st.error(f"Seeds {job.status}: {job.error or 'no reason recorded'}")
    else:
        st.dataframe(viz.seeds_table(job.result), key="privacy_seed_table")
        common.chart(viz.seeds_figure(job.result), key="privacy_seed_fig")


def body() -> None:
    common.page_header(
        "Forget quality",
        "whether a run truly forgot: membership attacks anchored on the retrain oracle, a per-image U-LiRA-lite "
        "attack, layer-wise similarity, where the forget images moved, how fast they are relearned, and a verdict.",
        "compare every number with **retrain's**, never with 0 or 1: the ideal run is indistinguishable from a "
        "model that never saw the forget images (attack accuracy 0.5, CKA like retrain's, relearn as slow).",
    )
    common.job_panel()
    view = common.chosen_scenario()
    if view is None:
        return
    runs = [e for e in view.entries if e.get("run_id")]
    labels = {e["run_id"]: e["label"] for e in runs}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key=S.W_PRIVACY_RUN)
    record = common.run_record(run_id)
    if common.run_model(run_id) is None:
        raise UserInputError(f"run {run_id} has no stored weights; nothing to attack")
    spec = ExperimentSpec.from_dict(dict(record.experiment))
    verdict_panel(record)
    attack_panel(record, run_id)
    ulira_panel(record, run_id)
    forgetting_quality_panel(record, run_id)
    representation_panel(record, run_id)
    relearn_panel(record, run_id)
    seeds_panel(record, spec)


common.guarded(body)
