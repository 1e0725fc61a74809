"""The generated configuration reference: complete, and the committed page up to date."""

from __future__ import annotations

import dataclasses

from mtrec.config import CONF_DIR, schema
from mtrec.config.reference import field_docs, render, undocumented_fields
from tests.helpers import REPO

PAGE = REPO / "docs" / "reference" / "configuration.md"


def test_every_schema_field_is_documented() -> None:
    assert undocumented_fields() == []


def test_committed_page_matches_the_generator() -> None:
    assert PAGE.read_text() == render(CONF_DIR), (
        "docs/reference/configuration.md is stale: run "
        "`python -m mtrec.config.reference > docs/reference/configuration.md`"
    )


def test_page_lists_every_key_with_its_default_and_doc() -> None:
    page = render(CONF_DIR)
    for group, cls in schema.GROUP_SCHEMAS.items():
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            row = next(line for line in page.splitlines() if line.startswith(f"| `{group}.{f.name}` |"))
            assert docs[f.name].split()[0].replace("``", "`") in row
    assert "| `trainer.early_stopping.patience` | `int` | `3` |" in page
    assert "| `loss.rating_weight` | `float` | `1.0` |" in page
    assert "| `dataset.name` | `str` | required |" in page
    assert "Options: `adagrad`, `adam`, `sgd`." in page  # each group's YAML options


def test_field_docs_reads_the_string_under_each_field() -> None:
    @dataclasses.dataclass
    class Example:
        documented: int = 1
        """What it is."""
        bare: int = 2

    assert field_docs(Example) == {"documented": "What it is."}
