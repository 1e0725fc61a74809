"""The exported model: logged to MLflow, loaded in a fresh process, it answers as the trained model.

One tiny synthetic model is trained, exported and logged once for the module; one subprocess runs
``mtrec-predict`` and ``mtrec-recommend`` against it (batch CSV and single queries), and the tests
compare what came back with the in-memory model's own ratings and brute-force top-K.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from mtrec.app import model_lookup, predict
from mtrec.app.process import ProcessState
from mtrec.app.training import build_model
from mtrec.data.interactions import Split
from mtrec.data.splits import random_split
from mtrec.data.synthetic import make_synthetic
from mtrec.model.multitask import MultitaskModel
from mtrec.serving import export as serving_export
from mtrec.serving import loading as serving
from mtrec.serving import locate, pyfunc
from mtrec.serving.export import GraphCache, export_model
from mtrec.training.datasets import make_dataset
from tests.helpers import compose_config, run_script

K = 5


@dataclass
class Logged:
    split: Split
    model: MultitaskModel
    uri: str  # tracking URI of the tmp store
    run_id: str
    export_dir: Path
    tmp: Path


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    tmp = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(1)
    data = replace(  # Side features as a MovieLens source gives them: one row per id, row 0 zeros.
        make_synthetic(30, 20, 600, 4, seed=1),
        user_features=np.vstack([np.zeros((1, 5)), rng.integers(0, 2, (30, 5))]).astype(np.float32),
        movie_features=np.vstack([np.zeros((1, 6)), rng.integers(0, 2, (20, 6))]).astype(np.float32),
    )
    split = random_split(data, 0.2, seed=1)
    # Every rating-head and tower lever on, so the export covers more than the tutorial's model.
    cfg = compose_config(
        "experiment=smoke",
        "model.biases=true",
        "model.rating_factors=4",
        "model.interaction_features=true",
        "model.user_history=true",
        "model.movie_features=true",
        "model.user_features=true",
        "model.popularity_prior=0.5",
    )
    model = build_model(cfg, split, ProcessState())
    model.fit(make_dataset(split.train, 128, shuffle_seed=1), epochs=1, verbose=0)
    model.index_candidates()
    export_dir = export_model(model, split.train, tmp / "export")

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment("serving", artifact_location=str(tmp / "artifacts"))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("test/rmse", 1.0)
        pyfunc.log_model(export_dir)
    return Logged(split, model, uri, run.info.run_id, export_dir, tmp)


def expected_ratings(logged: Logged, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
    """[n] ratings of the in-memory model for 1-based user and movie indices."""
    m = logged.model
    return m.task("rating").predict(m.towers.user(users), m.towers.movie(movies), users, movies).numpy()[:, 0]


def expected_ranking(logged: Logged, user: int) -> tuple[list[str], np.ndarray]:
    """Every movie title by the in-memory model's brute-force index for one user, best first."""
    m = logged.model
    queries = m.retrieval.score_queries(m.towers.user(tf.constant([user])))
    scores, ids = tf.math.top_k(
        tf.matmul(queries, m.index_candidates(), transpose_b=True), k=m.retrieval.num_movies
    )
    return list(logged.split.train.movie_vocab[ids.numpy()[0]]), scores.numpy()[0]


def seen_titles(logged: Logged, user: int) -> set[str]:
    train_rows = logged.split.train
    return set(train_rows.movie_vocab[train_rows.movie[train_rows.user == user] - 1])


@pytest.fixture(scope="module")
def cli_outputs(logged: Logged) -> dict[str, Path | str]:
    """Runs the console-script entry points in one fresh Python process (TensorFlow loads once)."""
    train_rows = logged.split.train
    pairs = pd.DataFrame(
        {
            "user_id": train_rows.user_vocab[train_rows.user[:12] - 1],
            "movie_title": train_rows.movie_vocab[(np.arange(12) % train_rows.num_movies)],
        }
    )
    pairs.to_csv(logged.tmp / "pairs.csv", index=False)
    pd.DataFrame({"user_id": train_rows.user_vocab[:6]}).to_csv(logged.tmp / "users.csv", index=False)
    common = ["--run", logged.run_id, "--tracking-uri", logged.uri]
    calls = [
        ("predict_main", [*common, "--input", "pairs.csv", "--output", "ratings.csv"]),
        ("recommend_main", [*common, "--input", "users.csv", "--output", "top.csv", "-k", str(K)]),
        (
            "recommend_main",
            [*common, "--input", "users.csv", "--output", "unseen.csv", "-k", str(K), "--exclude-seen"],
        ),
        ("predict_main", [*common, "--user", str(pairs.user_id[0]), "--movie", str(pairs.movie_title[0])]),
    ]
    done = run_script("predict_commands.py", json.dumps(calls), cwd=logged.tmp, timeout=300)
    return {"dir": logged.tmp, "stdout": done.stdout, "stderr": done.stderr}


def test_ratings_in_a_fresh_process_equal_the_trained_model(logged: Logged, cli_outputs: dict) -> None:
    out = pd.read_csv(cli_outputs["dir"] / "ratings.csv", dtype={"user_id": str})
    pairs = pd.read_csv(cli_outputs["dir"] / "pairs.csv", dtype=str)
    assert list(out.user_id) == list(pairs.user_id) and list(out.movie_title) == list(pairs.movie_title)
    vocab = logged.split.train
    users = np.searchsorted(vocab.user_vocab, out.user_id) + 1
    movies = np.searchsorted(vocab.movie_vocab, out.movie_title) + 1
    np.testing.assert_allclose(out.rating, expected_ratings(logged, users, movies), rtol=1e-5, atol=1e-6)
    assert out.user_known.all() and out.movie_known.all()
    first = f"{out.rating[0]:.3f}"
    assert cli_outputs["stdout"].strip() == (
        f"Predicted rating of user {pairs.user_id[0]} for {pairs.movie_title[0]!r}: {first}"
    )


def test_top_k_in_a_fresh_process_equals_the_trained_index(logged: Logged, cli_outputs: dict) -> None:
    out = pd.read_csv(cli_outputs["dir"] / "top.csv", dtype={"user_id": str})
    for user in range(1, 7):
        rows = out[out.user_id == logged.split.train.user_vocab[user - 1]]
        titles, scores = expected_ranking(logged, user)
        assert list(rows["rank"]) == list(range(1, K + 1))
        assert list(rows.movie_title) == titles[:K]
        np.testing.assert_allclose(rows.score, scores[:K], rtol=1e-5, atol=1e-6)


def test_exclude_seen_drops_training_movies_and_keeps_the_order(logged: Logged, cli_outputs: dict) -> None:
    out = pd.read_csv(cli_outputs["dir"] / "unseen.csv", dtype={"user_id": str})
    for user in range(1, 7):
        rows = out[out.user_id == logged.split.train.user_vocab[user - 1]]
        seen = seen_titles(logged, user)
        assert seen, "every test user has training movies"
        titles, _ = expected_ranking(logged, user)
        # Fewer than K rows when the user has seen almost everything: never padding or seen movies.
        assert list(rows.movie_title) == [t for t in titles if t not in seen][:K]


def test_the_commands_process_never_imports_mlflow(cli_outputs: dict) -> None:
    """The model is looked up by a process of its own while the command's imports TensorFlow."""
    assert cli_outputs["stderr"].splitlines()[-1] == "mlflow modules imported: []"


def test_a_failed_lookup_is_one_line(logged: Logged, capsys) -> None:
    argv = ["--run", "nope", "--tracking-uri", logged.uri, "--user", "u", "--movie", "m"]
    assert predict.predict_main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mtrec-predict: error: no run 'nope' in {logged.uri}; copy the run id from the MLflow UI"]
    # A lookup process that dies without answering (its traceback is on stderr) is one line too.
    crashed = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.exit(3)"], stdout=subprocess.PIPE, text=True
    )
    with pytest.raises(
        model_lookup.CliError, match=r"^looking up the model failed \(exit status 3\); see above$"
    ):
        model_lookup.Lookup(crashed).result()
    garbled = subprocess.Popen(
        [sys.executable, "-c", "print('not an answer')"], stdout=subprocess.PIPE, text=True
    )
    with pytest.raises(model_lookup.CliError, match=r"^looking up the model failed \(exit status 0\)"):
        model_lookup.Lookup(garbled).result()


def test_pyfunc_load_model_answers_dataframes(logged: Logged) -> None:
    mlflow.set_tracking_uri(logged.uri)
    model = mlflow.pyfunc.load_model(f"runs:/{logged.run_id}/{pyfunc.MODEL_NAME}")
    vocab = logged.split.train
    frame = pd.DataFrame({"user_id": vocab.user_vocab[:3], "movie_title": vocab.movie_vocab[:3]})
    ratings = model.predict(frame)
    np.testing.assert_allclose(
        ratings.rating, expected_ratings(logged, np.arange(1, 4), np.arange(1, 4)), rtol=1e-5, atol=1e-6
    )
    top = model.predict(frame[["user_id"]], params={"k": 3})
    assert list(top.movie_title[:3]) == expected_ranking(logged, 1)[0][:3]
    with pytest.raises(serving.UnknownIdError, match="allow_unknown"):
        model.predict(pd.DataFrame({"user_id": ["nobody"]}))


def test_load_logged_answers_as_mlflows_loader_and_refuses_other_models(
    logged: Logged, tmp_path: Path
) -> None:
    """The predict commands' loader (no requirement scan) gives what mlflow.pyfunc.load_model does."""
    mlflow.set_tracking_uri(logged.uri)
    uri = f"runs:/{logged.run_id}/{pyfunc.MODEL_NAME}"
    ours = pyfunc.load_logged(uri)
    theirs = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    users, movies = logged.split.train.user_vocab[:4], logged.split.train.movie_vocab[:4]
    pd.testing.assert_frame_equal(
        ours.ratings(users, movies, False, "fix"), theirs.ratings(users, movies, False, "fix")
    )
    code = tmp_path / "foreign.py"
    code.write_text(
        "import mlflow\n\n\nclass Echo(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input: list[str]) -> list[str]:\n"
        "        return model_input\n\n\n"
        "mlflow.models.set_model(Echo())\n"
    )
    other = tmp_path / "other"
    mlflow.pyfunc.save_model(other, python_model=str(code))
    with pytest.raises(locate.NotMtrecModelError, match="not one logged by mtrec"):
        pyfunc.load_logged(str(other))
    assert predict.predict_main(["--model", str(other), "--user", "u", "--movie", "m"]) == 1


def test_load_logged_warns_when_the_model_was_logged_with_other_versions(
    logged: Logged, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(logged.uri)
    local = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{logged.run_id}/{pyfunc.MODEL_NAME}", dst_path=tmp_path)
    )
    requirements = local / "requirements.txt"
    requirements.write_text(re.sub(r"numpy==\S+", "numpy==0.0.1", requirements.read_text()))
    with pytest.warns(UserWarning, match=r"logged with numpy==0\.0\.1"):
        pyfunc.load_logged(str(local))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--user", "nobody", "--movie", "movie_03"], "user id 'nobody' is not in the run's training data"),
        (
            ["--user", "user_01", "--movie", "movie_3"],
            "movie title 'movie_3' is not in the run's training data",
        ),
    ],
)
def test_unknown_ids_fail_with_one_line(logged: Logged, argv: list[str], expected: str, capsys) -> None:
    status = predict.predict_main(["--run", logged.run_id, "--tracking-uri", logged.uri, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1
    assert err[0].startswith(f"mtrec-predict: error: {expected}") and err[0].endswith(predict.CLI_FIX)


def test_allow_unknown_answers_from_the_cold_start_embedding(logged: Logged, capsys) -> None:
    argv = ["--model", str(logged.export_dir), "--user", "nobody", "-k", "3", "--allow-unknown"]
    assert predict.recommend_main(argv) == 0
    out = capsys.readouterr().out
    assert "cold start: unknown user" in out and len(out.strip().splitlines()) == 2 + 3


def test_best_run_is_chosen_by_metric_among_finished_runs_with_a_model(tmp_path: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = mlflow.create_experiment("sweep", artifact_location=str(tmp_path / "artifacts"))

    def add_run(
        name: str, rmse: float, accuracy: float, sweep: str, model: bool = True, status: str = "FINISHED"
    ):
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
            mlflow.log_metrics({"test/rmse": rmse, "test/top_10_accuracy": accuracy})
            mlflow.set_tag("mtrec.sweep_dir", f"outputs/sweeps/{sweep}")
            if model:
                mlflow.set_tag(pyfunc.MODEL_URI_TAG, f"models:/m-{name}")
            mlflow.end_run(status)
        return run.info.run_id

    add_run("a", rmse=1.3, accuracy=0.30, sweep="day1/10-00")
    best_rmse = add_run("b", rmse=1.1, accuracy=0.10, sweep="day1/10-00")
    add_run("no model", rmse=0.5, accuracy=0.90, sweep="day1/10-00", model=False)
    add_run("failed", rmse=0.4, accuracy=0.95, sweep="day1/10-00", status="FAILED")
    best_other_sweep = add_run("c", rmse=1.2, accuracy=0.50, sweep="day2/09-00")

    assert model_lookup.best_run("sweep", None, "test/rmse")["run_id"] == best_rmse
    assert model_lookup.best_run("sweep", None, "test/top_10_accuracy")["run_id"] == best_other_sweep
    assert model_lookup.best_run(None, "day1/10-00", "test/top_10_accuracy")["tags.mlflow.runName"] == "a"
    assert model_lookup.best_run("sweep", "day2/09-00", "test/rmse", "max")["run_id"] == best_other_sweep
    with pytest.raises(model_lookup.CliError, match="no experiment named 'nope'"):
        model_lookup.best_run("nope", None, "test/rmse")
    with pytest.raises(model_lookup.CliError, match="no finished run"):
        model_lookup.best_run("sweep", None, "test/ndcg")


def test_lookup_tables_give_the_training_indices() -> None:
    table = serving_export._lookup_table(np.array(["u1", "u2", "u3", "u4"]))
    np.testing.assert_array_equal(table.lookup(tf.constant(["u1", "u4", "nobody"])).numpy(), [1, 4, 0])


def _signature_outputs(export_dir: Path, users: list[str], titles: list[str]) -> dict[str, np.ndarray]:
    loaded = serving.load_export(export_dir)
    out = loaded.predict(np.array(users), np.array(titles))
    ranked = loaded.recommend(np.array(users), k=K, exclude_seen=True)
    return {**out, **{f"recommend/{name}": value for name, value in ranked.items()}}


def _graph_mode_ratings(saved_model: Path, users: list[str], titles: list[str]) -> np.ndarray:
    """Ratings through the SavedModel's own restore op, the way TF Serving's C++ loader reads it."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(saved_model))
        signature = meta_graph.signature_def["predict"]
        return session.run(
            signature.outputs["rating"].name,
            {signature.inputs["user_id"].name: users, signature.inputs["movie_title"].name: titles},
        )


def test_a_later_export_of_the_same_structure_writes_the_kept_graph_with_its_own_weights(
    tmp_path: Path,
) -> None:
    split = random_split(make_synthetic(30, 20, 600, 4, seed=3), 0.2, seed=3)
    overrides = (
        "experiment=smoke",
        "model.biases=true",
        "model.rating_factors=3",
        "model.popularity_prior=0.5",
    )
    models = []
    for seed in (1, 2):  # Same structure, different weights (rating head, biases and factors included).
        model = build_model(compose_config(*overrides, f"trainer.seed={seed}"), split, ProcessState())
        model.fit(make_dataset(split.train, 128, shuffle_seed=seed), epochs=1, verbose=0)
        models.append(model)
    users = [*split.train.user_vocab[:6], "nobody"]
    titles = [*split.train.movie_vocab[3:9], "no such movie"]
    user_index, movie_index = np.arange(1, 7), np.arange(4, 10)  # vocabulary entry i is index i + 1
    first_ratings, second_ratings = (
        m.task("rating")
        .predict(m.towers.user(user_index), m.towers.movie(movie_index), user_index, movie_index)
        .numpy()[:, 0]
        for m in models
    )

    cache = GraphCache()
    first = export_model(models[0], split.train, tmp_path / "first", cache, graph_key="structure")
    again = export_model(models[1], split.train, tmp_path / "again", cache, graph_key="structure")
    new = export_model(models[1], split.train, tmp_path / "new")  # traced and saved anew

    graph = Path(serving.SAVED_MODEL_DIR) / "saved_model.pb"
    assert (again / graph).read_bytes() == (first / graph).read_bytes()  # the kept graph, reused
    assert (new / graph).read_bytes() != (first / graph).read_bytes()
    reused, fresh = _signature_outputs(again, users, titles), _signature_outputs(new, users, titles)
    assert reused.keys() == fresh.keys()
    for name in reused:
        np.testing.assert_array_equal(reused[name], fresh[name], err_msg=name)
    np.testing.assert_allclose(reused["rating"][:6], second_ratings, rtol=1e-5)
    np.testing.assert_allclose(
        _signature_outputs(first, users, titles)["rating"][:6], first_ratings, rtol=1e-5
    )
    np.testing.assert_allclose(
        _graph_mode_ratings(again / serving.SAVED_MODEL_DIR, users, titles), reused["rating"], rtol=1e-6
    )
    assert serving.read_metadata(again) == serving.read_metadata(new)

    # Another structure under the same key (a caller's mistake) or other rows: a new graph.
    # experiment=smoke has embedding_dim 8: 16 is another structure.
    wider = build_model(compose_config(*overrides, "model.embedding_dim=16"), split, ProcessState())
    other = export_model(wider, split.train, tmp_path / "wider", cache, graph_key="structure")
    assert (other / graph).read_bytes() != (first / graph).read_bytes()
    assert _signature_outputs(other, users, titles)["rating"].shape == (7,)
    rows = random_split(make_synthetic(30, 20, 600, 4, seed=3), 0.2, seed=3).train  # equal, not the same
    moved = export_model(wider, rows, tmp_path / "rows", cache, graph_key="structure")
    assert (moved / graph).read_bytes() != (other / graph).read_bytes()
