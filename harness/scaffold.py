"""`harness new-objective NAME --from BASE`: start a new objective from an existing one.

Writes ``harness/objectives/NAME.py`` (BASE's code, registered as NAME, with a
provenance block to fill in) and ``tests/test_objective_NAME.py`` (tests that run at
once: registration, a finite loss with no gradient on padding, and equality with BASE
until the new objective changes the math). Nothing else needs editing: the registry
discovers the file and the trainer gets it by name.
"""
from __future__ import annotations

import argparse
import ast
import keyword
import re
import sys
from pathlib import Path

__all__ = ["new_objective", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or name


def _docstring_template(name: str, base: str) -> str:
    return f'''"""{name}: TODO one line saying what this objective changes (scaffolded from {base}).

Provenance
- Paper: TODO authors, title, arXiv id; seed article under shared/seeds/ if any.
- Equation: TODO the loss in one line, with every symbol defined.
- Exact: TODO which parts follow the paper or its reference code exactly (file, equation).
- Reconstructed: TODO which parts are our reading, and why; "nothing" if none.
- Defaults: TODO each default hyperparameter and where it comes from.
"""'''


def _provenance_template(indent: str, name: str, base: str) -> str:
    pad = indent + "    "
    return (
        f"{indent}provenance = Provenance(\n"
        f'{pad}paper="TODO arXiv id (scaffolded from {base})",\n'
        f'{pad}equation="TODO the loss in one line",\n'
        f'{pad}exact="TODO parts that follow the paper or reference code exactly",\n'
        f'{pad}reconstructed="TODO parts that are our reconstruction",\n'
        f'{pad}defaults_source="TODO where the default hyperparameters come from",\n'
        f"{indent})"
    )


def _objective_source(base_source: str, base: str, name: str) -> str:
    """BASE's module with a fresh docstring, provenance block, class name and registry name."""
    tree = ast.parse(base_source)
    lines = base_source.splitlines()
    cls = next(
        (
            node for node in tree.body
            if isinstance(node, ast.ClassDef)
            and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "register"
                and d.args and isinstance(d.args[0], ast.Constant) and d.args[0].value == base
                for d in node.decorator_list
            )
        ),
        None,
    )
    if cls is None:
        raise ValueError(f"harness/objectives/{base}.py has no class decorated with @register({base!r}) to copy")
    prov = next(
        (
            stmt for stmt in cls.body
            if isinstance(stmt, ast.Assign) and any(getattr(t, "id", "") == "provenance" for t in stmt.targets)
        ),
        None,
    )
    # edit bottom-up so earlier line numbers stay valid
    if prov is not None:
        indent = re.match(r"\s*", lines[prov.lineno - 1]).group(0)
        lines[prov.lineno - 1 : prov.end_lineno] = _provenance_template(indent, name, base).splitlines()
    header = cls.lineno - 1
    lines[header] = lines[header].replace(f"class {cls.name}", f"class {_class_name(name)}", 1)
    for deco in cls.decorator_list:
        lines[deco.lineno - 1] = lines[deco.lineno - 1].replace(f'register("{base}")', f'register("{name}")')
    doc = tree.body[0] if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(
        getattr(tree.body[0], "value", None), ast.Constant) else None
    template = _docstring_template(name, base).splitlines()
    if doc is not None:
        lines[doc.lineno - 1 : doc.end_lineno] = template
    else:
        lines[0:0] = template
    return "\n".join(lines) + "\n"


def _test_source(name: str, base: str) -> str:
    return f'''"""Tests for the {name} objective (scaffolded from {base}).

Replace ``test_{name}_equals_{base}_until_its_math_changes`` with a test of the property
{name} claims (see tests/test_objectives_properties.py for examples), and name it for
that property.
"""
from __future__ import annotations

import pytest
import torch

from harness import objectives


def random_batch(seed: int = 0) -> objectives.RolloutBatch:
    """Two groups of four, ragged lengths, mixed rewards, every signal any objective may ask for."""
    g = torch.Generator().manual_seed(seed)
    B, T = 8, 6
    lengths = torch.tensor([6, 2, 4, 5, 3, 6, 1, 4])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    logprobs = (-2 * torch.rand(B, T, generator=g)).requires_grad_()
    entropy = torch.rand(B, T, generator=g)
    return objectives.RolloutBatch(
        logprobs=logprobs,
        old_logprobs=logprobs.detach() + 0.1 * torch.randn(B, T, generator=g),
        mask=mask,
        rewards=torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        group_size=4,
        ref_logprobs=logprobs.detach() - 0.1,
        entropy=entropy,
        old_entropy=entropy + 0.05,
        extras={{
            "max_new_tokens": 8,
            "answer_entropy": torch.rand(B, T, generator=g) * mask,
            "completion_ids": torch.randint(3, 30, (B, T), generator=g) * mask.long(),
        }},
    )


def test_{name}_is_registered_with_its_provenance() -> None:
    obj = objectives.get("{name}")
    assert "{name}" in objectives.available()
    assert obj.provenance.paper and obj.provenance.equation
    assert obj.required_signals() <= objectives.SIGNALS


def test_{name}_loss_is_finite_and_padding_gets_no_gradient() -> None:
    batch = random_batch()
    loss, metrics = objectives.get("{name}").loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(isinstance(v, float) for v in metrics.values())
    loss.backward()
    assert torch.isfinite(batch.logprobs.grad).all()
    assert (batch.logprobs.grad * (1 - batch.mask)).abs().max() == 0


def test_{name}_equals_{base}_until_its_math_changes() -> None:
    ours, _ = objectives.get("{name}").loss(random_batch())
    theirs, _ = objectives.get("{base}").loss(random_batch())
    torch.testing.assert_close(ours, theirs)


@pytest.mark.xfail(reason="fill in the provenance block of harness/objectives/{name}.py", strict=False)
def test_{name}_provenance_is_filled_in() -> None:
    import harness.objectives.{name} as module

    obj = objectives.get("{name}")
    assert "TODO" not in (module.__doc__ or "")
    assert not any("TODO" in str(v) for v in vars(obj.provenance).values())
'''


def new_objective(name: str, base: str = "grpo", root: Path = REPO_ROOT) -> list[Path]:
    """Write ``harness/objectives/<name>.py`` (a copy of ``base``) and ``tests/test_objective_<name>.py``.

    Returns the two paths. Refuses names that are not lower-case identifiers, that an
    objective already has, or whose files exist.
    """
    root = Path(root)
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ValueError(f"objective name {name!r} must be a lower-case Python identifier, e.g. 'my_grpo'")
    obj_dir = root / "harness" / "objectives"
    base_path = obj_dir / f"{base}.py"
    if not base_path.exists():
        known = sorted(p.stem for p in obj_dir.glob("*.py") if not p.stem.startswith("_") and p.stem != "parts")
        raise ValueError(f"no objective file {base_path} to start from; --from one of: {', '.join(known)}")
    target = obj_dir / f"{name}.py"
    test = root / "tests" / f"test_objective_{name}.py"
    if name in {"parts"} or target.exists() or test.exists():
        raise FileExistsError(f"{target if target.exists() else test} exists (or the name is reserved); pick another name")
    if root.resolve() == REPO_ROOT.resolve():
        from harness import objectives

        if name in objectives.available():
            raise ValueError(f"objective {name!r} is already registered (maybe from an installed package); pick another name")
    source = _objective_source(base_path.read_text(), base, name)
    compile(source, str(target), "exec")  # fail here, not at import time
    target.write_text(source)
    test.parent.mkdir(parents=True, exist_ok=True)
    test.write_text(_test_source(name, base))
    return [target, test]


def main(argv: list[str] | None = None) -> int:
    """``harness new-objective NAME [--from BASE] [--root DIR]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="harness new-objective", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="registry name of the new objective (lower-case identifier)")
    parser.add_argument("--from", dest="base", default="grpo", help="objective to copy (default: grpo)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        paths = new_objective(args.name, args.base, args.root)
    except (ValueError, FileExistsError) as err:
        print(f"harness new-objective: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    print(f"next: fill in the provenance block of {paths[0].name}, change the math, run pytest {paths[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
