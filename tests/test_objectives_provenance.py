"""Every claim of exactness points to its source, and quotes are the source's own words.

An objective's ``Provenance.exact`` (and the "Exact" paragraph of its module docstring)
may only claim what a source says: a sentence quoted verbatim ("...") from the seed
article the objective came from, a paper equation / section / algorithm number, or a
line of reference code (``file.py:LINE``). Everything else belongs in ``reconstructed``.
The quotes are searched for in the seed article itself, so a paraphrase dressed as a
quote fails here.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from harness import objectives

ROOT = Path(__file__).resolve().parent.parent
_SHARED_SEEDS = ROOT.parent / "shared" / "seeds"
# the shared checkout's articles when present, else the copies shipped with the tests (tests/data/seeds)
SEEDS = _SHARED_SEEDS if _SHARED_SEEDS.exists() else ROOT / "tests" / "data" / "seeds"
ALL = objectives.available()

QUOTE = re.compile(r"[\"“]([^\"”]{12,}?)[\"”]")
POINTER = re.compile(r"(eq\.|eqs\.|equation|sec\.|section|algorithm|table|\.py:\d+)", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(text.replace("’", "'").replace("‘", "'").split())


def _exact_paragraph(doc: str) -> str:
    """The docstring's '- Exact...' paragraph, up to the next '- ' item."""
    m = re.search(r"^- Exact[^\n]*(?:\n(?!- )[^\n]*)*", doc, re.MULTILINE)
    return m.group(0) if m else ""


def _seed_text(obj: objectives.Objective) -> str | None:
    if not obj.provenance.seed_article:
        return None
    path = SEEDS / Path(obj.provenance.seed_article).name
    if not SEEDS.exists():
        pytest.skip(f"the shared seed articles ({SEEDS}) are not in this checkout")
    assert path.exists(), f"seed article {path} named by the provenance does not exist"
    return _norm(path.read_text())


@pytest.mark.parametrize("name", ALL)
def test_every_quoted_sentence_is_in_the_seed_article(name: str) -> None:
    obj = objectives.get(name)
    seed = _seed_text(obj)
    doc = importlib.import_module(type(obj).__module__).__doc__ or ""
    quotes = QUOTE.findall(obj.provenance.exact) + QUOTE.findall(_exact_paragraph(doc))
    if seed is None:
        return
    for q in quotes:
        assert _norm(q) in seed, f"{name}: quoted {q!r} is not in {obj.provenance.seed_article}"


@pytest.mark.parametrize("name", ALL)
def test_every_exactness_claim_points_to_its_source(name: str) -> None:
    obj = objectives.get(name)
    exact = obj.provenance.exact
    doc = importlib.import_module(type(obj).__module__).__doc__ or ""
    assert "Provenance" in doc and "Defaults" in doc and _exact_paragraph(doc), (
        f"{name}: the module docstring must open with its provenance (Provenance / Exact / Defaults)")
    if exact.lower().startswith("nothing"):
        return
    assert QUOTE.search(exact) or POINTER.search(exact), (
        f"{name}: Provenance.exact {exact!r} names no source: quote the seed article, give an equation/section, "
        "or a reference-code file:line; otherwise move it to 'reconstructed'")
    if "(abstract)" in exact:
        pytest.fail(f"{name}: '(abstract)' is not a source pointer; quote the sentence instead")


def test_quote_search_catches_a_paraphrase() -> None:
    # the check itself: a real sentence of the TEPO article passes, a paraphrase of it does not
    tepo = _seed_text(objectives.get("tepo"))
    assert tepo is not None
    real = "implements a token-level KL-Divergence mask constraint"
    paraphrase = "implements a token-level KL mask constraint"
    assert QUOTE.findall(f'"{real}"') == [real] and _norm(real) in tepo
    assert _norm(paraphrase) not in tepo
