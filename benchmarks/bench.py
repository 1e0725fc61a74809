"""mtrec vs. the tutorial's own pipeline, side by side, in one run (``make bench``).

    python benchmarks/bench.py [--data ../shared/data/ml-100k] [--out bench.json] [--skip-scaling]

Measures, each whole process in its own subprocess (imports included, peak RSS from the kernel's
rusage): the reference pipeline (benchmarks/tutorial_reference.py) doing the tutorial's three
models, and ``mtrec experiment=tutorial`` doing the same; their ratio; per-phase times; the
retrieval training step at batch 8192 against the bare logits matmul; and a synthetic scaling
table (1x, 4x, 16x the interactions of ml-100k). Prints a table and writes JSON. It asserts
nothing: correctness lives in pytest, this reports.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]


# Runs a command as its only child and writes that child's peak RSS (KB): exact per command.
_RSS_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(r.returncode)"
)


def measure(cmd: list[str], cwd: Path) -> dict:
    """Wall time and peak RSS (MB) of one command; raises with its stderr if it fails."""
    rss_file = cwd / "rss.txt"
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, str(rss_file), *cmd], cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return {"wall_seconds": wall, "peak_rss_mb": int(rss_file.read_text()) / 1024, "stdout": out.stdout}


def reference(data: Path, work: Path) -> dict:
    result = measure([sys.executable, str(REPO / "benchmarks" / "tutorial_reference.py"), str(data)], work)
    inner = json.loads(result["stdout"].strip().splitlines()[-1])
    return {**inner, "wall_seconds": result["wall_seconds"], "peak_rss_mb": result["peak_rss_mb"]}


# mtrec's per-job phases, from each run's time/* metrics (import: the first job of the process only).
PHASES = ("import", "data", "build", "fit", "evaluate", "export", "log_model")


def store_template() -> dict:
    """mtrec's empty MLflow store for this MLflow version (``mtrec.tracking.template``), made now if missing.

    Every new store after a machine's first is copied from it, so the timed run's fresh store is
    created the way a user's next one is. Making it is what MLflow's own migrations cost.
    """
    from mtrec.tracking import template as stores

    existed = stores.template_path().is_file()
    start = time.perf_counter()
    stores.make_template()
    return {"existed": existed, "made_seconds": 0.0 if existed else time.perf_counter() - start}


def mtrec_tutorial(data: Path, work: Path) -> dict:
    return mtrec_multirun(data, work, "experiment=tutorial")


def mtrec_multirun(data: Path, work: Path, *overrides: str) -> dict:
    """One ``mtrec`` multirun on ``data`` in a new store under ``work``: its whole process and each job."""
    import mlflow

    db = work / "mtrec.db"
    db.unlink(missing_ok=True)
    launched = time.time()
    result = measure(
        [
            sys.executable,
            "-m",
            "mtrec",
            *overrides,
            f"dataset.path={data}",
            f"tracking.uri=sqlite:///{db}",
            "hydra.sweep.dir=sweep",
        ],
        work,
    )
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    runs = mlflow.search_runs(experiment_names=["mtrec"])
    sweep = runs[runs["tags.mtrec.role"] == "sweep"].iloc[0]
    jobs = runs[runs["tags.mtrec.role"] != "sweep"].sort_values("start_time")
    models = {}
    # A job's wall time runs from the previous job's end (the first: from the sweep run's start) to
    # its own end: Hydra composing its config and setting it up count too, not only its MLflow run.
    previous_end = sweep["start_time"]
    for _, run in jobs.iterrows():
        job_seconds = (run["end_time"] - previous_end).total_seconds()
        setup_seconds = (run["start_time"] - previous_end).total_seconds()
        previous_end = run["end_time"]
        phases = {f"{p}_seconds": float(run.get(f"metrics.time/{p}_seconds", 0.0) or 0.0) for p in PHASES}
        models[run["tags.mlflow.runName"]] = {
            "run_id": run["run_id"],
            **phases,
            "job_seconds": job_seconds,
            "setup_seconds": setup_seconds,
            # The definition: job wall time minus fit and evaluate.
            "overhead_seconds": job_seconds - phases["fit_seconds"] - phases["evaluate_seconds"],
            "test/rmse": run["metrics.test/rmse"],
            "test/top_100_accuracy": run["metrics.test/top_100_accuracy"],
        }
    last_job = jobs["end_time"].max().timestamp()
    return {
        "launched": launched,
        "wall_seconds": result["wall_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        # Python, Hydra, MLflow and the sweep's parent run (a new store, copied from the template).
        "startup_seconds": sweep["start_time"].timestamp() - launched,
        # The sweep report (tables, plots) and closing the parent run, then process exit.
        "report_seconds": launched + result["wall_seconds"] - last_job,
        "sweep_run_seconds": (sweep["end_time"] - sweep["start_time"]).total_seconds(),
        "models": models,
    }


TENSORFLOW_IMPORT = "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import tensorflow"


def fixed_cost_targets(data: Path, work: Path, tutorial: dict, rounds: int = 3) -> dict:
    """The fixed-cost issue's three targets, each against TensorFlow's import measured beside it.

    - the tutorial process: wall - (TensorFlow's import + the jobs' fit and evaluate), target <= 2 s;
    - ``mtrec-predict`` and ``mtrec-recommend`` for one user (the tutorial's joint model):
      wall - TensorFlow's import, target <= 1 s;
    - a 9-job weight grid: the later 8 jobs' wall time from the first job's end to the process's
      exit (the report and exit included) - their fit and evaluate, per job, target <= 0.5 s.
    Medians of ``rounds`` alternated processes for the import and the two commands.
    """
    joint = tutorial["models"]["rating=1 retrieval=1"]["run_id"]
    uri = f"--tracking-uri=sqlite:///{work / 'mtrec.db'}"
    commands = {
        "tensorflow_import": [sys.executable, "-c", TENSORFLOW_IMPORT],
        "predict": [sys.executable, "-c", "from mtrec.app.predict import predict_main as m; m()"]
        + [uri, "--run", joint, "--user", "42", "--movie", "Star Wars (1977)"],
        "recommend": [sys.executable, "-c", "from mtrec.app.predict import recommend_main as m; m()"]
        + [uri, "--run", joint, "--user", "42"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            samples[name].append(measure(cmd, work)["wall_seconds"])
    median = {name: sorted(v)[len(v) // 2] for name, v in samples.items()}
    fit_eval = sum(m["fit_seconds"] + m["evaluate_seconds"] for m in tutorial["models"].values())
    (work / "grid").mkdir()
    grid = mtrec_multirun(
        data, work / "grid", "-m", "tasks.rating.weight=0.1,0.5,1", "tasks.retrieval.weight=0.1,0.5,1"
    )
    jobs = list(grid["models"].values())
    first_end = grid["launched"] + grid["startup_seconds"] + jobs[0]["job_seconds"]
    later = grid["launched"] + grid["wall_seconds"] - first_end
    later_math = sum(m["fit_seconds"] + m["evaluate_seconds"] for m in jobs[1:])
    return {
        "samples": samples,
        "tensorflow_import_seconds": median["tensorflow_import"],
        "tutorial_margin_seconds": tutorial["wall_seconds"] - median["tensorflow_import"] - fit_eval,
        "predict_margin_seconds": median["predict"] - median["tensorflow_import"],
        "recommend_margin_seconds": median["recommend"] - median["tensorflow_import"],
        "grid_jobs": len(jobs),
        "grid_later_overhead_seconds": (later - later_math) / (len(jobs) - 1),
    }


STEP_CODE = r"""
import json, sys, time
import numpy as np
import mtrec
import tensorflow as tf, tensorflow_recommenders as tfrs
from mtrec.model.losses import grouped_in_batch_softmax_loss, in_batch_softmax_loss
B, D = 8192, 32
q = tf.Variable(tf.random.normal((B, D)) * 0.3); c = tf.Variable(tf.random.normal((B, D)) * 0.3)
task = tfrs.tasks.Retrieval()
# A real training batch: 8192 random rows of ml-100k's u.data (user id, item id, ...).
rows = np.loadtxt(sys.argv[1], dtype=np.int64, usecols=(0, 1))
rows = rows[np.random.default_rng(0).permutation(len(rows))[:B]]
num_users, num_movies = int(rows[:, 0].max()) + 1, int(rows[:, 1].max()) + 1
users_table = tf.Variable(tf.random.normal((num_users, D)) * 0.3)
movies_table = tf.Variable(tf.random.normal((num_movies, D)) * 0.3)
batch_users, batch_movies = tf.constant(rows[:, 0], tf.int32), tf.constant(rows[:, 1], tf.int32)
@tf.function
def matmul():
    return tf.reduce_sum(tf.matmul(q, c, transpose_b=True)[0])
@tf.function
def tfrs_step():
    with tf.GradientTape() as t:
        loss = task(q, c, compute_metrics=False, compute_batch_metrics=False)
    return t.gradient(loss, [q, c])
@tf.function
def mtrec_step():
    with tf.GradientTape() as t:
        loss = in_batch_softmax_loss(q, c)
    return t.gradient(loss, [q, c])
@tf.function
def mtrec_real_step():  # as MultitaskModel.compute_loss does it: distinct ids, then the grouped loss
    with tf.GradientTape() as t:
        users, user_index = tf.unique(batch_users)
        movies, movie_index = tf.unique(batch_movies)
        loss = grouped_in_batch_softmax_loss(
            tf.gather(users_table, users), user_index, tf.gather(movies_table, movies), movie_index,
            num_ids=(num_users, num_movies),
        )
    return [tf.convert_to_tensor(g) for g in t.gradient(loss, [users_table, movies_table])]
def best(f, n=7):
    f(); times = []
    for _ in range(n):
        t = time.perf_counter()
        [x.numpy() for x in tf.nest.flatten(f())]
        times.append(time.perf_counter() - t)
    return min(times)
print(json.dumps({"matmul_seconds": best(matmul), "tfrs_step_seconds": best(tfrs_step),
                  "mtrec_step_seconds": best(mtrec_step), "mtrec_real_step_seconds": best(mtrec_real_step),
                  "real_batch_distinct_users": len(np.unique(rows[:, 0])),
                  "real_batch_distinct_movies": len(np.unique(rows[:, 1]))}))
"""


def retrieval_step(data: Path, work: Path) -> dict:
    out = measure([sys.executable, "-c", STEP_CODE, str(data / "u.data")], work)
    step = json.loads(out["stdout"].strip().splitlines()[-1])
    step["mtrec_step_over_matmul"] = step["mtrec_step_seconds"] / step["matmul_seconds"]
    step["mtrec_real_step_over_matmul"] = step["mtrec_real_step_seconds"] / step["matmul_seconds"]
    step["tfrs_step_over_matmul"] = step["tfrs_step_seconds"] / step["matmul_seconds"]
    return step


def distinct_ids_per_batch(num_interactions: int, batch_size: int, batches: int = 10) -> tuple[float, float]:
    """The mean distinct users and movies of a batch of the synthetic data of that size (random
    batches, as the shuffled epochs draw them): what the exact retrieval loss costs per batch
    grows with their product."""
    import numpy as np

    from mtrec.data.synthetic import make_synthetic

    cfg = OmegaConf.load(REPO / "conf" / "dataset" / "synthetic.yaml")  # what `dataset=synthetic` uses
    num_users, num_movies = synthetic_sizes(num_interactions)
    data = make_synthetic(num_users, num_movies, num_interactions, cfg.num_factors, cfg.split_seed)
    rng = np.random.default_rng(0)
    users, movies = [], []
    for _ in range(batches):
        rows = rng.choice(len(data), batch_size, replace=False)
        users.append(len(np.unique(data.user[rows])))
        movies.append(len(np.unique(data.movie[rows])))
    return float(np.mean(users)), float(np.mean(movies))


def synthetic_sizes(num_interactions: int) -> tuple[int, int]:
    """Users and movies of synthetic data with ``num_interactions``: the vocabularies grow as the
    square root of the scale, from ml-100k's 943 users and 1,682 movies."""
    scale = num_interactions / 100_000
    return int(943 * math.sqrt(scale)), int(1682 * math.sqrt(scale))


def synthetic_command(num_interactions: int, out_dir: Path, *overrides: str) -> list[str]:
    """``mtrec dataset=synthetic`` at that size, without MLflow, writing to ``out_dir``."""
    num_users, num_movies = synthetic_sizes(num_interactions)
    return [
        sys.executable,
        "-m",
        "mtrec",
        "dataset=synthetic",
        f"dataset.num_interactions={num_interactions}",
        f"dataset.num_users={num_users}",
        f"dataset.num_movies={num_movies}",
        *overrides,
        "tracking=none",
        f"hydra.run.dir={out_dir}",
    ]


def scaling(work: Path) -> list[dict]:
    """Synthetic data at 1x, 4x, 16x ml-100k's interactions; users and movies grow as sqrt(scale).

    Two epochs each: the second is the steady epoch time that scales with the data; the first also
    traces the training step (and, once the catalogue is large enough for the blocked kernel,
    compiles it with XLA), a fixed cost that would flatter 1x and penalise 4x. Each scale runs
    the rating task alone too (``loss=rating_only``): everything but the retrieval loss.
    """
    batch_size = OmegaConf.load(REPO / "conf" / "trainer" / "tutorial.yaml").batch_size  # the default
    rows = []
    for scale in (1, 4, 16):
        num_interactions = 100_000 * scale
        epochs = {}
        for loss in ("joint", "rating_only"):
            out_dir = work / f"scale{scale}_{loss}"
            command = synthetic_command(num_interactions, out_dir, f"loss={loss}", "trainer.epochs=2")
            result = measure(command, work)
            history = json.loads((out_dir / "metrics.json").read_text())["train_history"]
            epochs[loss] = (history[0]["train/epoch_seconds"], history[1]["train/epoch_seconds"], result)
        users, movies = distinct_ids_per_batch(num_interactions, batch_size)
        rows.append(
            {
                "scale": scale,
                "interactions": num_interactions,
                "first_epoch_seconds": epochs["joint"][0],
                "epoch_seconds": epochs["joint"][1],
                "rating_only_epoch_seconds": epochs["rating_only"][1],
                "batch_distinct_users": users,
                "batch_distinct_movies": movies,
                "logits_per_row": users * movies / batch_size,
                "peak_rss_mb": epochs["joint"][2]["peak_rss_mb"],
            }
        )
    return rows


def print_table(report: dict) -> None:
    ref, ours = report["reference"], report["mtrec"]
    print(
        f"whole process, 3 tutorial models: reference {ref['wall_seconds']:.1f} s, "
        f"mtrec {ours['wall_seconds']:.1f} s, speed-up {report['speedup']:.2f}x"
    )
    print(f"peak RSS: reference {ref['peak_rss_mb']:.0f} MB, mtrec {ours['peak_rss_mb']:.0f} MB")
    template = report["store_template"]
    made = "already there" if template["existed"] else f"made before timing, {template['made_seconds']:.1f} s"
    print(f"mtrec's MLflow store: a new file, copied from mtrec's empty-store template ({made})")
    print(
        f"reference: import {ref['import_seconds']:.1f} s, data {ref['data_seconds']:.1f} s; "
        f"mtrec: start-up (imports, config, MLflow store) {ours['startup_seconds']:.1f} s, "
        f"sweep report and exit {ours['report_seconds']:.1f} s"
    )
    header = ["import", "data", "build", "fit", "eval", "export", "log", "overhead", "rmse", "top100"]
    print(f"{'model':<16}{'side':<10}" + "".join(f"{h:>9}" for h in header))
    names = {
        "rating_only": "rating=1 retrieval=0",
        "retrieval_only": "rating=0 retrieval=1",
        "joint": "rating=1 retrieval=1",
    }
    for key, run_name in names.items():
        r, m = ref["models"][key], ours["models"][run_name]
        ref_row = [
            "",
            "",
            r["build_seconds"],
            r["fit_seconds"],
            r["evaluate_seconds"],
            "",
            "",
            r["build_seconds"],
        ]
        ours_row = [m[f"{p}_seconds"] for p in PHASES] + [m["overhead_seconds"]]
        for side, row, model in (("reference", ref_row, r), ("mtrec", ours_row, m)):
            cells = [f"{v:>9.1f}" if isinstance(v, float) else f"{v:>9}" for v in row]
            cells += [f"{model['test/rmse']:>9.3f}", f"{model['test/top_100_accuracy']:>9.3f}"]
            print(f"{key if side == 'reference' else '':<16}{side:<10}" + "".join(cells))
    later = list(ours["models"].values())[1:]
    overheads = ", ".join(f"{m['overhead_seconds']:.1f}" for m in later)
    setups = ", ".join(f"{m['setup_seconds']:.1f}" for m in later)
    print(
        "mtrec per-job overhead (job wall time, from the previous job's end, - fit - evaluate): "
        f"first job {report['first_job_overhead']:.1f} s "
        f"(imports TensorFlow, parses and splits the data, computes the baselines), "
        f"later jobs {overheads} s, of which Hydra's set-up before the job's run {setups} s"
    )
    t = report["targets"]
    print(
        f"fixed-cost targets, against TensorFlow's import ({t['tensorflow_import_seconds']:.2f} s, median): "
        f"tutorial process - import - fit - evaluate {t['tutorial_margin_seconds']:.2f} s (target <= 2); "
        f"mtrec-predict - import {t['predict_margin_seconds']:.2f} s, mtrec-recommend - import "
        f"{t['recommend_margin_seconds']:.2f} s (target <= 1); {t['grid_jobs']}-job grid, later jobs' "
        f"overhead with the report and exit {t['grid_later_overhead_seconds']:.2f} s a job (target <= 0.5)"
    )
    s = report["retrieval_step"]
    print(
        "retrieval step at batch 8192 (loss and gradients): "
        f"bare logits matmul {s['matmul_seconds'] * 1000:.0f} ms; "
        f"TFRS {s['tfrs_step_seconds'] * 1000:.0f} ms ({s['tfrs_step_over_matmul']:.2f}x); mtrec, "
        f"every id distinct (blocked kernel) {s['mtrec_step_seconds'] * 1000:.0f} ms "
        f"({s['mtrec_step_over_matmul']:.2f}x); mtrec, a real ml-100k batch "
        f"({s['real_batch_distinct_users']} users x {s['real_batch_distinct_movies']} movies distinct) "
        f"{s['mtrec_real_step_seconds'] * 1000:.0f} ms ({s['mtrec_real_step_over_matmul']:.2f}x)"
    )
    for row in report.get("scaling", []):
        per_row = 1e6 / row["interactions"]
        users, movies = row["batch_distinct_users"], row["batch_distinct_movies"]
        print(
            f"synthetic {row['scale']:>2}x ({row['interactions']:>9,} interactions): "
            f"second epoch {row['epoch_seconds']:.1f} s ({row['epoch_seconds'] * per_row:.1f} us/row; "
            f"first, tracing included: {row['first_epoch_seconds']:.1f} s; "
            f"rating task alone {row['rating_only_epoch_seconds'] * per_row:.1f} us/row), "
            f"a batch's distinct users x movies {users:,.0f} x {movies:,.0f} "
            f"({row['logits_per_row']:,.0f} logits a row), peak RSS {row['peak_rss_mb']:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-100k")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "bench.json")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report = {"retrieval_step": retrieval_step(args.data.resolve(), work)}
        report["store_template"] = store_template()
        report["mtrec"] = mtrec_tutorial(args.data.resolve(), work)
        report["targets"] = fixed_cost_targets(args.data.resolve(), work, report["mtrec"])
        report["reference"] = reference(args.data.resolve(), work)
        report["speedup"] = report["reference"]["wall_seconds"] / report["mtrec"]["wall_seconds"]
        overheads = [m["overhead_seconds"] for m in report["mtrec"]["models"].values()]
        report["first_job_overhead"] = overheads[0]
        report["later_jobs_overhead_mean"] = sum(overheads[1:]) / len(overheads[1:])
        if not args.skip_scaling:
            report["scaling"] = scaling(work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print_table(report)
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
