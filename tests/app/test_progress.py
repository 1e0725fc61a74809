"""A multirun's "job i/N done, ..., ETA ..." line: the count of jobs from the overrides, the
estimate from the jobs so far."""

from __future__ import annotations

import pytest

from mtrec.app.progress import SweepProgress, count_jobs, duration


@pytest.mark.parametrize(
    "overrides,num_jobs",
    [
        (["experiment=smoke"], 1),
        (["loss.rating_weight=0.5,1", "loss.retrieval_weight=0.5,1,2", "trainer.epochs=2"], 6),
        (["trainer.seed=range(0,4)", "model.embedding_dim=16,32"], 8),
        (["experiment=glob(*)"], None),
        (["optimizer.lr=interval(0.01,0.1)"], None),
    ],
)
def test_the_number_of_jobs_comes_from_the_sweep_overrides(overrides: list[str], num_jobs) -> None:
    assert count_jobs(overrides) == num_jobs


def test_the_eta_is_the_mean_job_time_times_the_jobs_left() -> None:
    progress = SweepProgress(num_jobs=4, started=100.0)
    assert progress.job_ended(now=130.0) == "job 1/4 done, 30s elapsed, ETA 1m30s"
    assert progress.job_ended(now=220.0) == "job 2/4 done, 2m00s elapsed, ETA 2m00s"
    progress.job_ended(now=250.0)
    assert progress.job_ended(now=4000.0) == "job 4/4 done, 1h05m elapsed, ETA 0s"
    assert SweepProgress(num_jobs=None, started=0.0).job_ended(now=5.0) == "job 1 done, 5s elapsed"
    assert duration(59.6) == "1m00s"
