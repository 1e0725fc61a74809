"""The table source's config: its keys compose, and the rules types cannot carry are checked."""

from __future__ import annotations

import pytest

from mtrec.app.dataset import table_spec
from mtrec.config import ConfigError, validate
from mtrec.config.run_keys import is_shown, named_override
from mtrec.config.schema import DUPLICATES, SPLITS
from mtrec.data import splits, table
from tests.helpers import compose_config

TABLE = ("dataset=table", "dataset.path=log.csv")


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("dataset=table",), "dataset.path must be set for dataset=table"),
        (
            (*TABLE, "dataset.split=by_user"),
            "dataset.split must be one of ('random', 'temporal', 'leave_last_out')",
        ),
        ((*TABLE, "dataset.duplicates=merge"), "dataset.duplicates must be one of ('error', 'keep', 'drop')"),
        ((*TABLE, "dataset.format=xlsx"), "dataset.format must be null or one of ('csv', 'tsv', 'parquet')"),
        ((*TABLE, "dataset.leave_out=0"), "dataset.leave_out must be >= 1"),
        (
            (*TABLE, "dataset.columns.rating=null"),
            "tasks.rating.weight must be 0 when dataset.columns.rating is null",
        ),
        (
            (*TABLE, "dataset.columns.timestamp=null", "dataset.split=temporal"),
            "dataset.split must be random when dataset.columns.timestamp is null",
        ),
        ((*TABLE, "dataset.columns.rating_range=[5,1]"), "dataset.columns.rating_range must be [low, high]"),
        (
            (*TABLE, "+dataset.columns.label_ranges.clicked=[0,1]"),
            "dataset.columns.label_ranges.clicked must be a column in dataset.columns.labels",
        ),
        (("dataset.items.path=items.csv",), "dataset.items.path must be unset unless dataset.kind=table"),
    ],
)
def test_bad_table_keys_name_the_key(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        validate(compose_config(*overrides))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_retrieval_only_tables_and_temporal_movielens_validate() -> None:
    validate(compose_config(*TABLE, "dataset.columns.rating=null", "loss=retrieval_only"))
    validate(compose_config("dataset.split=temporal"))  # MovieLens has timestamps too


def test_the_composed_keys_reach_the_reader_as_plain_arguments() -> None:
    cfg = compose_config(
        *TABLE,
        "dataset.columns.labels=[clicked]",
        "+dataset.columns.label_ranges.clicked=[0,1]",
        "dataset.items.path=items.parquet",
        "dataset.items.id=sku",
        "dataset.items.multi_valued=[tags]",
        "dataset.duplicates=drop",
    )
    validate(cfg)
    spec = table_spec(cfg.dataset)
    assert spec is not None and spec.user == "user_id" and spec.labels == ("clicked",)
    assert spec.label_ranges == {"clicked": (0.0, 1.0)} and spec.duplicates == "drop"
    assert spec.items is not None and spec.items.id == "sku" and tuple(spec.items.multi_valued) == ("tags",)
    assert spec.users is None and table_spec(compose_config().dataset) is None


def test_the_config_and_the_data_layer_agree_on_the_choices() -> None:
    assert SPLITS == splits.SPLITS and DUPLICATES == table.DUPLICATES


def test_the_split_rule_is_a_run_defining_shown_key_and_the_layout_is_not() -> None:
    assert is_shown("dataset.split") and is_shown("dataset.duplicates")
    assert not is_shown("dataset.columns.user") and not is_shown("dataset.items.path")
    assert named_override("dataset.split=temporal") and not named_override("dataset.columns.item=title")


def test_run_names_show_the_learned_weighting_but_not_the_loss_weights() -> None:
    assert named_override("loss.weighting=uncertainty") and named_override("loss.gradnorm_alpha=1")
    assert not named_override("loss.rating_weight=0.5") and not named_override("loss=joint")


def test_the_baselines_do_not_define_a_run() -> None:
    # Reference numbers fitted apart from the model: runs finished before them are still resumed.
    from mtrec.config.run_keys import defines_run

    assert not defines_run("baselines.strong") and not defines_run("baselines.ease_l2")
    assert defines_run("trainer.ranking_k")
