"""Every session-state key and shared widget key of the dashboard, in one place.

Pages read and write session state only through these names, so two pages never disagree on a key.
"""

from __future__ import annotations

# ---- session state --------------------------------------------------------------------------------------
SESSION_ID = "session_id"  # identifies this browser session as the owner of its jobs
EXPERIMENT = "experiment"  # ExperimentSpec.to_dict() of the active experiment
FORGET = "forget_spec"  # ForgetSpec.to_dict() of the forget set being built
REPAIRS_SEEN = "workspace_repairs_seen"  # the workspace repair notices were shown to this session
SUBMITTED = "submitted_jobs"  # job ids this session queued, oldest first
FINISHED_SEEN = "finished_jobs_seen"  # how many of them had finished at the last page refresh
DEMO_SKIPPED = "demo_skipped"  # [{"method", "reason"}] of the last demo
IMPORTED_KEY = "imported_model_key"  # store key of the checkpoint imported in this session
LASSO_IDS = "lasso_ids"  # training indices in the current lasso selection
GROUP = "compare_group"  # scenario shown on every results page (not a widget key, so it outlives page changes)
TARGET_MODEL = "target_model"  # Unlearn: "trained" or the store key of the imported checkpoint to unlearn
BANNER_SEEN = "jobs_were_active"  # whether a job was running at the results pages' last refresh check
SAVED = "saved_session"  # what was last written to the workspace's sessions/<id>.json
FRAMED = "framed_by_app"  # set by app.py: pages run inside its navigation
WANTED_PAGE = "wanted_page"  # a deep link that first ran without app.py, to open once app.py runs
# restored from the workspace after a browser reload (the URL carries ?sid=<SESSION_ID>) or a server restart
PERSISTED = ("experiment", "forget_spec", "submitted_jobs", "imported_model_key", "compare_group", "target_model",
             "demo_skipped")
QUERY_SESSION = "sid"  # query parameter naming the session
ULIRA_JOBS = "privacy_ulira_jobs"  # Forget quality: {run_id or "original:<run_id>": job id}
SEED_JOBS = "privacy_seed_jobs"  # Forget quality: {scenario key: job id}
BACKGROUND_JOBS = "background_value_jobs"  # {value name: job id} of page values computed in the background
RELEARN_RESULTS = "privacy_relearn_results"  # Forget quality: {run id: {"lr", "steps", "probe"}} of the last probe
FQ_JOBS = "privacy_fq_jobs"  # Forget quality: {"<run id>:<N>": job id} of the NeurIPS 2023 forgetting quality
REPORT_RUNS = "report_runs"  # Report: run ids chosen for the report
REPORT_JOB = "report_job"  # Report: id of this session's latest report-building job
SWEEP_JOB = "sweeps_job"  # Sweeps: {"job": job id, "sweep": sweep key} of this session's latest sweep
SWEEP_SEEN = "sweeps_seen_done"  # Sweeps: id of the last sweep job whose end already reran the page
SWEEP_SHOWN = "sweeps_shown_latest"  # Sweeps: the started sweep the results picker last switched to

# ---- widget keys (stable, so a rerun keeps what the user typed) -----------------------------------------
W_DEMO = "home_run_demo"
W_DATASET, W_ARCH, W_SEED = "model_dataset", "model_arch", "model_seed"
W_TRAIN = "model_train"
W_UPLOAD, W_IMPORT = "model_upload", "model_import"
W_MEASURE_ARCH, W_IMPORT_RECIPE, W_ADD_CODES = "model_measure_arch", "model_import_recipe", "model_add_codes"
W_STORED_MODEL, W_USE_STORED = "model_stored", "model_use_stored"
W_CLASSES = "forget_classes"
W_RANDOM_ON, W_RANDOM_FRACTION, W_RANDOM_SEED = "forget_random_on", "forget_random_fraction", "forget_random_seed"
W_GALLERY_CLASS, W_GALLERY_PRED, W_GALLERY_CONF, W_GALLERY_PAGE = (
    "gallery_class", "gallery_prediction", "gallery_confidence", "gallery_page")
W_EMBEDDING, W_LASSO_CHART, W_LASSO_ADD = "forget_embedding", "forget_lasso_chart", "forget_lasso_add"
W_CLEAR = "forget_clear"
W_QUEUE = "unlearn_queue"
W_TARGET_MODEL = "unlearn_target_model"
W_GROUP = "scenario_select"  # the results pages' scenario select box (mirrors GROUP)
W_INSIDE_RUNS = "inside_runs"
W_OPEN_RUN = "compare_open_run"
W_PRED_FORGET, W_PRED_RETAIN, W_ATTR_METHOD, W_ATTR_MODEL = (
    "pred_forget_images", "pred_retain_images", "pred_attribution", "pred_attribution_model")
W_PRIVACY_RUN, W_PRIVACY_STAT, W_PRIVACY_THRESHOLD = "privacy_run", "privacy_statistic", "privacy_threshold"
W_EMBED, W_EMBED_GO = "privacy_embedding", "privacy_embedding_go"
W_RELEARN_LR, W_RELEARN_STEPS, W_RELEARN_GO = "privacy_relearn_lr", "privacy_relearn_steps", "privacy_relearn_go"
W_ULIRA_K, W_ULIRA_EPOCHS, W_ULIRA_TARGET, W_ULIRA_EXECUTOR, W_ULIRA_GO = (
    "privacy_ulira_pairs", "privacy_ulira_epochs", "privacy_ulira_target", "privacy_ulira_executor",
    "privacy_ulira_go")
W_SEED_METHODS, W_SEED_COUNT, W_SEED_GO = "privacy_seed_methods", "privacy_seed_count", "privacy_seed_go"
W_FQ_N, W_FQ_GO = "privacy_fq_models", "privacy_fq_go"


def band_k(where: str) -> str:
    """The retrain band's K input on page `where` (Compare and Forget quality both show the band)."""
    return f"{where}_band_k"


def band_go(where: str) -> str:
    return f"{where}_band_train"


def band_values(where: str) -> str:
    return f"{where}_band_values"
W_REPORT_BUILD, W_REPORT_CONFIG_RUN = "report_build", "report_config_run"
W_PRESET_NAME, W_PRESET_TITLE, W_PRESET_SAVE = "report_preset_name", "report_preset_title", "report_preset_save"
W_SWEEP_METHODS, W_SWEEP_SEEDS, W_SWEEP_SEED_BASE, W_SWEEP_EPOCHS = (
    "sweeps_methods", "sweeps_seeds", "sweeps_seed_base", "sweeps_epochs")
W_SWEEP_EXECUTOR, W_SWEEP_WORKERS, W_SWEEP_ADDRESS, W_SWEEP_START, W_SWEEP_CANCEL = (
    "sweeps_executor", "sweeps_workers", "sweeps_address", "sweeps_start", "sweeps_cancel")
W_SWEEP_PICK, W_SWEEP_TABLE, W_SWEEP_INSPECT, W_SWEEP_PARCOORDS_METHOD = (
    "sweeps_pick", "sweeps_table", "sweeps_inspect", "sweeps_parcoords_method")


def method_checkbox(name: str) -> str:
    return f"unlearn_use_{name}"


def method_param(name: str, param: str) -> str:
    return f"unlearn_param_{name}_{param}"


def dataset_option(dataset: str, option: str) -> str:
    return f"model_dataset_option_{dataset}_{option}"


def recipe_field(name: str) -> str:
    return f"model_recipe_{name}"


def gallery_toggle(index: int) -> str:
    return f"gallery_toggle_{index}"


def cancel_button(job_id: str) -> str:
    return f"cancel_{job_id}"


def whatif_slider(method: str) -> str:
    return f"whatif_{method}"


def sweep_params(method: str) -> str:
    return f"sweeps_params_{method}"


def sweep_values(method: str, param: str) -> str:
    return f"sweeps_values_{method}_{param}"


def preset_dataset(name: str) -> str:
    return f"report_preset_dataset_{name}"
