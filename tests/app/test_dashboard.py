"""`optuna-dashboard` (the `dashboard` extra) serves a study as mtrec's sweeper stores it: a real
dashboard process on the default storage file, read through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import optuna

from hydra_plugins.mtrec_optuna import study
from tests.helpers import free_port, stop_process_group, wait_until


def get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def test_the_dashboard_shows_a_study_from_mtrecs_storage(tmp_path: Path) -> None:
    url = study.default_storage(f"sqlite:///{tmp_path / 'mlflow.db'}")  # optuna.db beside mlflow.db
    assert url == f"sqlite:///{tmp_path / 'optuna.db'}"
    built, _ = study.open_study(
        url,
        "weights-0123456789ab",
        ["minimize", "maximize"],
        optuna.samplers.RandomSampler(seed=0),
        optuna.pruners.NopPruner(),
        10,
        120,
    )
    for i in range(3):
        trial = built.ask(
            {"loss.retrieval_weight": optuna.distributions.FloatDistribution(0.01, 10, log=True)}
        )
        built.tell(trial, [1.0 + i, 0.2 - i / 100])
    dashboard = shutil.which("optuna-dashboard")
    assert dashboard, (
        "optuna-dashboard not installed: pip install -e '.[dashboard]' (scripts/install.sh does)"
    )
    port = free_port()
    server = subprocess.Popen(
        [dashboard, url, "--port", str(port), "--host", "127.0.0.1", "--quiet"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/api/studies") is not None, 60, "optuna-dashboard")
        summaries = get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        assert [(s["study_name"], s["directions"]) for s in summaries] == [
            ("weights-0123456789ab", ["minimize", "maximize"])
        ]
        detail = get(f"http://127.0.0.1:{port}/api/studies/{summaries[0]['study_id']}")
        assert [t["state"] for t in detail["trials"]] == ["Complete"] * 3
        assert {p["name"] for t in detail["trials"] for p in t["params"]} == {"loss.retrieval_weight"}
    finally:
        stop_process_group(server)
