"""The retrain band in the dashboard: its status and its cost before it starts, and training it in the background
(once per scenario), so Compare turns the "unverified" verdicts into calibrated ones once it finishes (verdicts
are re-derived on read by Lab.calibrated)."""

from __future__ import annotations

import threading

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import Lab
from unlearn_core.jobs import JobRunner
from unlearn_core.results import RunRecord
from unlearn_core.studies.band import DEFAULT_K, MAX_K, band_cost, band_for_record
from unlearn_core.viz.verdict import band_values_table

_pending: dict[str, str] = {}  # band store key -> job id, process-wide: one band job per scenario at a time
_lock = threading.Lock()


def _as_dict(record: RunRecord | dict) -> dict:
    return record.to_dict() if isinstance(record, RunRecord) else record


def _band_key(record: dict) -> str:
    return Lab.band_key(record["retrain_key"], int(record.get("seed") or 0))


def queue_band(lab: Lab, runner: JobRunner, record: RunRecord | dict, k: int, owner: str | None, device: str
               ) -> str | None:
    """Queues the band of this record's oracle unless it is cached or already queued; the job id or None."""
    record = _as_dict(record)
    key = _band_key(record)
    with _lock:
        job = runner.get(_pending[key]) if key in _pending else None
        if job is not None and not job.done:
            return job.id
        cached = lab.cached_band(record["retrain_key"], int(record.get("seed") or 0))
        if cached is not None and cached.get("k", 0) >= k:
            return None

        def work(progress, stop):
            return band_for_record(lab, record, k, progress=progress, stop=stop)["bands"]

        job_id = runner.submit("band", work, title=f"retrain band K={k} · forget "
                               f"{ForgetSpec.from_dict(record['forget']).describe()}", device=device, owner=owner)
        _pending[key] = job_id
        return job_id


def band_panel(record: RunRecord | dict, where: str) -> None:
    """Band status of the scenario of `record`, its cost before it starts, and a button to train it."""
    record = _as_dict(record)
    lab = common.lab()
    band = lab.cached_band(record["retrain_key"], int(record.get("seed") or 0))
    job = common.runner().get(_pending[_band_key(record)]) if _band_key(record) in _pending else None
    with st.container(border=True):
        if band is not None:
            seeds = ", ".join(str(s) for s in band["retrain_seeds"])
            st.markdown(f"**Retrain band:** {band['k']} independent retrains (seeds {seeds}) besides the oracle; "
                        "each verdict below is judged against it.")
            with st.expander("The band: what separates independent retrains from the oracle"):
                st.dataframe(band_values_table(band), key=S.band_values(where), hide_index=True)
        if job is not None and not job.done:
            st.info(f"Training the retrain band: {job.message} ({job.progress:.0%}). Verdicts update when it ends.")
            return
        left, right = st.columns([1, 3])
        k = int(left.number_input("Retrains K", 1, MAX_K, max(DEFAULT_K, band["k"] if band else 0),
                                  key=S.band_k(where)))
        if band is not None and band["k"] >= k:
            return
        cost = band_cost(lab, lab.base_for_record(record), ForgetSpec.from_dict(record["forget"]), k,
                         int(record.get("seed") or 0))
        eta = "" if cost["seconds_estimate"] is None else f", about {cost['seconds_estimate']:.0f} s"
        if band is None:
            right.markdown("**No retrain band yet**: verdicts say *unverified* until K independent retrains show "
                           "what separates retrains from the oracle on every signal.")
        if right.button(f"Train the band in the background ({cost['to_train']} retrain(s) to train{eta})",
                        key=S.band_go(where)):
            job_id = queue_band(lab, common.runner(), record, k, st.session_state[S.SESSION_ID], str(lab.device))
            if job_id:
                st.session_state[S.SUBMITTED] = [*st.session_state[S.SUBMITTED], job_id]
            st.rerun()


__all__ = ["band_panel", "queue_band"]
