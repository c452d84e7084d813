"""Every session-state key and shared widget key of the dashboard, in one place.

Pages read and write session state only through these names, so two pages never disagree on a key.
"""

from __future__ import annotations

# ---- session state --------------------------------------------------------------------------------------
SESSION_ID = "session_id"  # identifies this browser session as the owner of its jobs
EXPERIMENT = "experiment"  # ExperimentSpec.to_dict() of the active experiment
FORGET = "forget_spec"  # ForgetSpec.to_dict() of the forget set being built
SUBMITTED = "submitted_jobs"  # job ids this session queued, oldest first
FINISHED_SEEN = "finished_jobs_seen"  # how many of them had finished at the last page refresh
DEMO_SKIPPED = "demo_skipped"  # [{"method", "reason"}] of the last demo
IMPORTED_KEY = "imported_model_key"  # store key of the checkpoint imported in this session
LASSO_IDS = "lasso_ids"  # training indices in the current lasso selection
GROUP = "compare_group"  # scenario shown on Compare / Inside / Predictions (shared so pages agree)

# ---- widget keys (stable, so a rerun keeps what the user typed) -----------------------------------------
W_DEMO = "home_run_demo"
W_DATASET, W_ARCH, W_SEED = "model_dataset", "model_arch", "model_seed"
W_TRAIN = "model_train"
W_UPLOAD, W_IMPORT = "model_upload", "model_import"
W_STORED_MODEL, W_USE_STORED = "model_stored", "model_use_stored"
W_CLASSES = "forget_classes"
W_RANDOM_ON, W_RANDOM_FRACTION, W_RANDOM_SEED = "forget_random_on", "forget_random_fraction", "forget_random_seed"
W_GALLERY_CLASS, W_GALLERY_PRED, W_GALLERY_CONF, W_GALLERY_PAGE = (
    "gallery_class", "gallery_prediction", "gallery_confidence", "gallery_page")
W_EMBEDDING, W_LASSO_CHART, W_LASSO_ADD = "forget_embedding", "forget_lasso_chart", "forget_lasso_add"
W_CLEAR = "forget_clear"
W_QUEUE = "unlearn_queue"
W_TARGET_MODEL = "unlearn_target_model"
W_INSIDE_RUNS = "inside_runs"
W_OPEN_RUN = "compare_open_run"
W_PRIVACY_RUN = "privacy_run"  # the run shown on Forget quality (Compare's click-through sets it)
W_PRED_FORGET, W_PRED_RETAIN, W_ATTR_METHOD, W_ATTR_MODEL = (
    "pred_forget_images", "pred_retain_images", "pred_attribution", "pred_attribution_model")


def method_checkbox(name: str) -> str:
    return f"unlearn_use_{name}"


def method_param(name: str, param: str) -> str:
    return f"unlearn_param_{name}_{param}"


def recipe_field(name: str) -> str:
    return f"model_recipe_{name}"


def gallery_toggle(index: int) -> str:
    return f"gallery_toggle_{index}"


def cancel_button(job_id: str) -> str:
    return f"cancel_{job_id}"


def whatif_slider(method: str) -> str:
    return f"whatif_{method}"
