"""The papers' benchmarks as data: one frozen spec each, a loader, and `harness benchmarks`.

    spec = SPECS["math500"]
    loaded = load_benchmark("math500", path="copies/math500")   # or hub, when reachable
    loaded.items      -> arena items {"id", "domain", "prompt", "answer", ...}
    loaded.checksum   -> sha256 of the items' canonical JSON (record it with every evaluation)

A spec says where the data lives (dataset id, pinned revision, config, split), which row
fields hold the problem / reference / tests / entry point, how the reference answer is
extracted (``reference_rule``), which verifier domain judges a response, the prompt
template, and the paper-standard sampling (k, temperature, top-p, the metric) with its
source ("ours" where no paper fixes it).

Revisions: this machine cannot reach the hub, so each pinned commit hash (``PINNED``) was
read from a public project that loads the dataset at that commit, and ``revision_source`` says
which; none was checked against the hub from here (a wrong one fails loudly at load time:
revision not found). ``UNPINNED`` marks a benchmark with no hash yet. No hash here is invented.

Loading, in order: an explicit local path (a JSONL/JSON/parquet file, or a folder in the
layout ``datasets`` writes: ``<split>.jsonl``, ``<split>-*.parquet``, ``data/<split>-*``),
else ``datasets.load_dataset`` at the pinned revision (needs the hub). Items are built
from rows by the spec's rule, so the same row always gives the same item and checksum.

Judging: ``verify_spec_items(texts, items)`` (harness evaluate and the lm-eval tasks call
it), i.e. the registry's verifiers, with LiveCodeBench programs wrapped into one function
that runs inside the code verifier's sandbox against stdin/stdout or functional tests.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import io
import pickle
import random
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.tasks.real import HUMANEVAL_STOP

UNPINNED = "unpinned: set before first GPU run"
#: Folder holding local copies, one sub-folder (or file) per benchmark name.
DATA_DIR_ENV = "HARNESS_BENCHMARK_DIR"

#: DeepSeek-R1's math prompt suffix (arXiv 2501.12948 §3.1 / its model card), also used by
#: Qwen2.5-Math's evaluation; our math verifier reads the last \boxed{}.
MATH_PROMPT = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
R1_SAMPLING = "temperature 0.6, top-p 0.95: DeepSeek-R1 arXiv 2501.12948 §3.1 (k: {k_source})"


@dataclass(frozen=True)
class Sampling:
    """How a benchmark is sampled and scored. metric: "avg@k" | "pass@k" | "maj@k" | "greedy"."""

    metric: str
    k: int
    temperature: float
    top_p: float
    max_new_tokens: int
    source: str


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark, declaratively. ``fields`` maps roles (id, problem, reference, tests,
    entry_point, ...) to the dataset's column names."""

    name: str
    title: str
    domain: str                      # verifier domain: math | code | science
    dataset: str                     # hub id
    revision: str                    # commit hash, or UNPINNED
    config: str | None
    split: str
    fields: Mapping[str, str]
    reference_rule: str              # key of REFERENCE_RULES
    prompt_template: str
    sampling: Sampling
    size: int | None                 # published number of items (None: depends on the window)
    filters: Mapping[str, Any] = field(default_factory=dict)
    verifiable: bool = True          # False: the arena's verifiers cannot judge it yet
    notes: str = ""
    revision_source: str = ""        # where the pinned hash was read (PINNED)


def _math(name: str, title: str, dataset: str, split: str, fields: dict[str, str], rule: str,
          sampling: Sampling, size: int | None, config: str | None = None, notes: str = "") -> BenchmarkSpec:
    return BenchmarkSpec(name, title, "math", dataset, UNPINNED, config, split, fields, rule,
                         MATH_PROMPT, sampling, size, notes=notes)


_SPECS: tuple[BenchmarkSpec, ...] = (
    _math("math500", "MATH-500", "HuggingFaceH4/MATH-500", "test",
          {"id": "unique_id", "problem": "problem", "reference": "answer", "solution": "solution"},
          "field", Sampling("avg@k", 4, 0.6, 0.95, 32768, R1_SAMPLING.format(k_source="ours")), 500,
          notes="Lightman et al. 2023's 500-problem subset of MATH; 'answer' equals the solution's last \\boxed{}"),
    _math("aime2024", "AIME 2024", "Maxwell-Jia/AIME_2024", "train",
          {"id": "ID", "problem": "Problem", "reference": "Answer", "solution": "Solution"},
          "aime_integer",
          Sampling("avg@k", 32, 1.0, 0.7, 20480, "avg@32, temperature 1.0, top-p 0.7: DAPO arXiv 2503.14476 §4.1"), 30),
    _math("aime2025", "AIME 2025", "yentinglin/aime_2025", "train",
          {"id": "id", "problem": "problem", "reference": "answer", "solution": "solution"},
          "aime_integer",
          Sampling("avg@k", 32, 1.0, 0.7, 20480, "as AIME 2024 (DAPO arXiv 2503.14476 §4.1); the set itself: ours"), 30),
    _math("amc2023", "AMC 2023", "math-ai/amc23", "test",
          {"id": "id", "problem": "question", "reference": "answer"},
          "field", Sampling("avg@k", 16, 0.6, 0.95, 32768, R1_SAMPLING.format(k_source="ours")), 40),
    _math("minerva_math", "Minerva Math", "math-ai/minervamath", "test",
          {"problem": "question", "reference": "answer"},
          "field", Sampling("avg@k", 4, 0.6, 0.95, 32768, R1_SAMPLING.format(k_source="ours")), 272,
          notes="Lewkowycz et al. 2022's OCW subset; rows have no id column, so ids are row indices"),
    _math("olympiadbench", "OlympiadBench (math, English, text-only, open-ended)", "Hothan/OlympiadBench", "train",
          {"id": "id", "problem": "question", "reference": "final_answer"},
          "first_of_list", Sampling("avg@k", 4, 0.6, 0.95, 32768, R1_SAMPLING.format(k_source="ours")), 675,
          config="OE_TO_maths_en_COMP",
          notes="config OE_TO_maths_en_COMP: open-ended, text-only, maths, English, competition"),
    _math("gsm8k", "GSM8K", "openai/gsm8k", "test",
          {"problem": "question", "reference": "answer"},
          "gsm8k_hashes", Sampling("greedy", 1, 0.0, 1.0, 4096, "ours (greedy; papers differ)"), 1319,
          config="main", notes="the reference is the text after the solution's '#### '"),
    BenchmarkSpec(
        "gpqa_diamond", "GPQA-Diamond", "science", "Idavidrein/gpqa", UNPINNED, "gpqa_diamond", "train",
        {"id": "Record ID", "problem": "Question", "correct": "Correct Answer",
         "incorrect": "Incorrect Answer 1|Incorrect Answer 2|Incorrect Answer 3"},
        "choice_shuffled",
        "{problem}\n\n{choices}\n\nAnswer with the letter of the correct option, as 'Answer: X'.",
        Sampling("avg@k", 8, 0.6, 0.95, 32768, R1_SAMPLING.format(k_source="ours")), 198,
        notes="gated on the hub (accept the terms first); options shuffled by a hash of the record id"),
    BenchmarkSpec(
        "humaneval_plus", "HumanEval+", "code", "evalplus/humanevalplus", UNPINNED, None, "test",
        {"id": "task_id", "problem": "prompt", "tests": "test", "entry_point": "entry_point",
         "solution": "canonical_solution"},
        "evalplus_check", "{problem}",
        Sampling("greedy", 1, 0.0, 1.0, 1024, "greedy pass@1: EvalPlus leaderboard (Liu et al. 2023, arXiv 2305.01210)"),
        164, notes="the model continues the prompt (completion_of_prompt), cut at the Codex stop strings"),
    BenchmarkSpec(
        "mbpp_plus", "MBPP+", "code", "evalplus/mbppplus", UNPINNED, None, "test",
        {"id": "task_id", "problem": "prompt", "tests": "test", "example_test": "test_list",
         "solution": "code"},
        "mbppplus_script",
        '"""\n{problem}\n{example_test}\n"""\n',
        Sampling("greedy", 1, 0.0, 1.0, 1024, "greedy pass@1: EvalPlus leaderboard (Liu et al. 2023, arXiv 2305.01210)"),
        378, notes="prompt as EvalPlus writes it: the task and one example assert in a docstring; "
                   "the response is a fenced code block or bare code"),
    BenchmarkSpec(
        "livecodebench", "LiveCodeBench (release_v5, 2024-08-01..2025-02-01)", "code",
        "livecodebench/code_generation_lite", UNPINNED, "release_v5", "test",
        {"id": "question_id", "problem": "question_content", "starter_code": "starter_code",
         "public_tests": "public_test_cases", "private_tests": "private_test_cases", "date": "contest_date",
         "metadata": "metadata"},
        "lcb_tests",
        "{problem}\n\n{format_hint}",
        Sampling("avg@k", 8, 0.6, 0.95, 32768,
                 "window 2024-08..2025-01 and temperature 0.6, top-p 0.95: DeepSeek-R1 arXiv 2501.12948 §3.1 (k: ours)"),
        None, filters={"contest_date_from": "2024-08-01", "contest_date_before": "2025-02-01"},
        notes="stdin/stdout and LeetCode-class (functional) tests, run in the code verifier's sandbox: the "
              "program is wrapped into one function (verify_spec_items) that the trusted check() calls per "
              "test; outputs compared line by line as LiveCodeBench does"),
)

_AIPERF = "ai-dynamo/aiperf src/aiperf/accuracy/worker.py (_REGISTRATIONS, file version 0655f2b)"
_EVAL_FRAMEWORK = ("Aleph-Alpha-Research/eval-framework src/eval_framework/tasks/hf-dataset-revisions.json "
                   "(@ec43333)")
_LM_EVAL_PR = "EleutherAI/lm-evaluation-harness pull request #4026 (not merged; @b06be63)"
_UNNAMED = ("several public evaluation files agree on it, but the code index did not name their "
            "repositories: weaker evidence than a named project")

#: name -> (commit hash, where it was read). Each hash is a fact copied from the named source.
PINNED: dict[str, tuple[str, str]] = {
    "math500": ("6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be", f"{_EVAL_FRAMEWORK}; {_AIPERF}"),
    "aime2024": ("8d88b2876a82a080e2f172cc9b25d0d9d2cb4792", _AIPERF),
    "aime2025": ("6f71d77b0b89b9dabe07ab466c51df33f514df7f", _AIPERF),
    "amc2023": ("80815d37005feb82cd7f8fbc6901d5d3eff43057", _UNNAMED),
    "minerva_math": ("ee46ddc498933b1977577953250ca5c66be64f96", _UNNAMED),
    "olympiadbench": ("91184b52131e7fc9455fef848035173aea8cc01a", _UNNAMED),
    "gsm8k": ("740312add88f781978c0658806c59bc2815b9866", f"{_EVAL_FRAMEWORK}; {_AIPERF}; {_LM_EVAL_PR}"),
    "gpqa_diamond": ("633f5ee89ab8ad4522a9f850766b73f62147ffdd", f"{_EVAL_FRAMEWORK}; {_AIPERF}; {_LM_EVAL_PR}"),
    "humaneval_plus": ("d32357cf319e50e9c8d8dab5ea876c72b0fd321b",
                       f"{_LM_EVAL_PR} lm_eval/tasks/humaneval/humaneval_plus.yaml; {_UNNAMED}"),
    "mbpp_plus": ("b2d74c91837c3f2a20c1299ae98133cbe7cfa077",
                  f"{_LM_EVAL_PR} lm_eval/tasks/mbpp/mbpp_plus.yaml; {_UNNAMED}"),
    "livecodebench": ("0fe84c3912ea0c4d4a78037083943e8f0c4dd505", _AIPERF),
}


def _pinned(spec: BenchmarkSpec) -> BenchmarkSpec:
    if spec.name not in PINNED:
        return spec
    revision, source = PINNED[spec.name]
    return replace(spec, revision=revision, revision_source=source)


SPECS: dict[str, BenchmarkSpec] = {s.name: _pinned(s) for s in _SPECS}


# --- reference extraction -------------------------------------------------------------------

class BadRow(ValueError):
    """A dataset row does not have what its spec says; the message names the benchmark and row."""


def _gsm8k_reference(answer: str) -> str:
    """'... #### 1,000' -> '1000' (GSM8K writes the final number after '#### ')."""
    match = re.search(r"####\s*(.+?)\s*$", answer)
    if not match:
        raise BadRow(f"GSM8K answer has no '#### <number>' line: {answer[-80:]!r}")
    return match.group(1).replace(",", "").replace("$", "").strip()


def last_boxed(text: str) -> str:
    """The content of the last \\boxed{...} of ``text`` (nested braces balanced), as the
    arena's verifiers read it (verifiers.answer_extraction); BadRow when there is none."""
    from verifiers.answer_extraction import extract_answer

    found = extract_answer(text)
    if found is None or found.rule != "boxed":
        raise BadRow(f"no \\boxed{{}} in {text[-80:]!r}")
    return found.text


def _aime_reference(value: Any) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"\d{1,3}", text):
        raise BadRow(f"an AIME answer is an integer 0-999; got {text!r}")
    return str(int(text))


def _first_of_list(value: Any) -> str:
    if isinstance(value, str):  # some exports store the list as its JSON text
        value = json.loads(value) if value.strip().startswith("[") else [value]
    values = list(value)
    if not values:
        raise BadRow("empty final_answer list")
    return str(values[0]).strip().strip("$").strip()


#: rule name -> function of the reference field's value (rules that need the row are below)
REFERENCE_RULES: dict[str, Callable[[Any], str]] = {
    "field": lambda value: str(value).strip(),
    "gsm8k_hashes": _gsm8k_reference,
    "last_boxed": last_boxed,
    "aime_integer": _aime_reference,
    "first_of_list": _first_of_list,
}


# --- rows -> arena items --------------------------------------------------------------------

def _get(spec: BenchmarkSpec, row: Mapping[str, Any], role: str) -> Any:
    column = spec.fields[role]
    if column not in row:
        raise BadRow(f"{spec.name}: row lacks column {column!r} (role {role!r}); columns: {sorted(row)}")
    return row[column]


def _row_id(spec: BenchmarkSpec, row: Mapping[str, Any], index: int) -> str:
    raw = row.get(spec.fields["id"]) if "id" in spec.fields else None
    return f"{spec.name}-{raw if raw not in (None, '') else index}"


def _choices(spec: BenchmarkSpec, row: Mapping[str, Any], item_id: str) -> tuple[str, str]:
    """Options in an order fixed by the item id (not Python's hash), and the right letter."""
    correct = str(_get(spec, row, "correct")).strip()
    options = [correct] + [str(row[c]).strip() for c in spec.fields["incorrect"].split("|")]
    order = list(range(len(options)))
    random.Random(int(hashlib.sha256(item_id.encode()).hexdigest()[:16], 16)).shuffle(order)
    letters = "ABCDE"
    text = "\n".join(f"({letters[j]}) {options[i]}" for j, i in enumerate(order))
    return text, letters[order.index(0)]


def _mbpp_entry_point(row: Mapping[str, Any], example: str) -> str:
    names = re.findall(r"^def\s+(\w+)\s*\(", str(row.get("code", "")), re.MULTILINE)
    for name in names:
        if re.search(rf"\b{name}\s*\(", example):
            return name
    if names:
        return names[-1]
    raise BadRow(f"MBPP+ row {row.get('task_id')!r}: no function defined in 'code'")


def _lcb_tests(value: Any) -> list[dict[str, Any]]:
    """LiveCodeBench test cases: JSON text, or (private ones) base64 of zlib of a pickled JSON text."""
    if isinstance(value, list):
        return value
    text = str(value)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # the dataset's own encoding: a pickled *string*. Unpickled with no class or function
        # allowed (a tampered file cannot run code), and it must be a str holding JSON
        inner = _StringOnlyUnpickler(io.BytesIO(zlib.decompress(base64.b64decode(text.encode())))).load()
        if not isinstance(inner, str):
            raise BadRow(f"LiveCodeBench private tests: expected a pickled JSON string, got {type(inner).__name__}")
        return json.loads(inner)


class _StringOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any reference to a class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise BadRow(f"LiveCodeBench private tests: refused to load {module}.{name} from a pickle")


# --- LiveCodeBench in the sandbox ------------------------------------------------------------
#
# The code verifier calls ``check(candidate)`` on the host with ``candidate`` a proxy of one
# function defined in the sandbox. A LiveCodeBench answer is a whole program (stdin -> stdout)
# or a ``class Solution`` method, so the program is wrapped, inside the source that goes into
# the sandbox, into one function: LCB_RUN(stdin_text) -> stdout_text, or LCB_CALL(*args) ->
# Solution().<func_name>(*args). The program is carried base64-encoded (no fence or quote in
# it can break the wrapper). The host-side check (lcb_check_source) holds the tests and
# compares; the program never sees the expected outputs.

LCB_RUN = "_lcb_run"
LCB_CALL = "_lcb_call"
#: The imports LiveCodeBench's own harness puts before every program.
LCB_IMPORTS = ("import sys, os, io, re, math, heapq, bisect, string, random, itertools, functools, "
               "collections, operator\nfrom typing import *\nfrom collections import *\n"
               "from itertools import *\nfrom functools import *\nfrom heapq import *\nfrom bisect import *\n")

_LCB_STDIN_WRAPPER = """import base64 as _lcb_b64

def {run}(stdin_text):
    import io, os, sys, threading
    data = stdin_text.encode()
    # the input on fd 0 itself (programs read open(0) as often as input()), through a pipe:
    # the sandbox's /tmp is read-only. A writer thread feeds what the pipe buffer cannot hold.
    read_end, write_end = os.pipe()

    def feed():
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
        except OSError:
            pass
        finally:
            os.close(write_end)

    threading.Thread(target=feed, daemon=True).start()
    if read_end != 0:  # 0 itself when the last test's program closed fd 0 (open(0) does)
        os.dup2(read_end, 0)
        os.close(read_end)
    saved_in, saved_out = sys.stdin, sys.stdout
    out = io.BytesIO()
    stdout = io.TextIOWrapper(out, write_through=True)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, closefd=False)))
    sys.stdout = stdout
    try:
        exec(compile({imports!r} + _lcb_b64.b64decode({program!r}).decode(), "<program>", "exec"),
             {{"__name__": "__main__"}})
    except SystemExit:
        pass
    finally:
        stdout.flush()
        sys.stdin, sys.stdout = saved_in, saved_out
    return out.getvalue().decode(errors="replace")
"""

_LCB_FUNCTIONAL_WRAPPER = """import base64 as _lcb_b64
_lcb_namespace = {{"__name__": "_lcb_solution"}}
exec(compile({imports!r} + _lcb_b64.b64decode({program!r}).decode(), "<program>", "exec"), _lcb_namespace)

def {call}(*args):
    return getattr(_lcb_namespace["Solution"](), {func_name!r})(*args)
"""

_LCB_CHECK = """import json as _json
from decimal import Decimal as _Decimal, InvalidOperation as _InvalidOperation

_CASES = {cases!r}
_FUNCTIONAL = {functional!r}


def _lines(text):
    return [line.strip() for line in text.strip().splitlines()]


def _same_stdout(got, expected):
    # LiveCodeBench's rule: equal stripped lines, or equal lines of equal numbers
    a, b = _lines(got), _lines(expected)
    if a == b:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        xs, ys = x.split(), y.split()
        if len(xs) != len(ys):
            return False
        try:
            if [_Decimal(t) for t in xs] != [_Decimal(t) for t in ys]:
                return False
        except _InvalidOperation:
            return False
    return True


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {{k: _plain(v) for k, v in value.items()}}
    return value


def check(candidate):
    for number, (given, expected) in enumerate(_CASES):
        if _FUNCTIONAL:
            args = [_json.loads(line) for line in given.split("\\n") if line.strip()]
            got = candidate(*args)
            assert _plain(got) == _plain(_json.loads(expected)), f"test {{number}}: wrong return value"
        else:
            got = candidate(given)
            assert isinstance(got, str), f"test {{number}}: no output"
            assert _same_stdout(got, expected), f"test {{number}}: wrong output"
"""


def lcb_check_source(tests: list[dict[str, Any]], functional: bool) -> str:
    """The trusted ``check(candidate)`` of a LiveCodeBench item (runs on the host, in the code
    verifier's worker). tests: [{"input", "output", "testtype"}]; functional: LeetCode-style
    (inputs are JSON arguments one per line, the output a JSON value) rather than stdin/stdout."""
    cases = [(str(t["input"]), str(t["output"])) for t in tests]
    return _LCB_CHECK.format(cases=cases, functional=functional)


def lcb_program(item: Mapping[str, Any], response: str) -> str:
    """The source sent into the sandbox for a LiveCodeBench ``response``: its last fenced code
    block (or the whole text), wrapped into the item's entry point (LCB_RUN or LCB_CALL)."""
    from verifiers.code_verifier import candidate_source

    program = base64.b64encode(candidate_source(response).encode()).decode()
    if item["entry_point"] == LCB_CALL:
        return _LCB_FUNCTIONAL_WRAPPER.format(imports=LCB_IMPORTS, program=program, call=LCB_CALL,
                                              func_name=item["func_name"])
    return _LCB_STDIN_WRAPPER.format(imports=LCB_IMPORTS, program=program, run=LCB_RUN)


def spec_response(item: Mapping[str, Any], response: str) -> str:
    """What the verifier is given for ``response`` to a spec item: the wrapped program for
    LiveCodeBench, the response itself for every other benchmark (whose items
    ``registry.verifier_response`` already handles: stop strings, prompt continuation)."""
    return lcb_program(item, response) if item.get("benchmark") == "livecodebench" else response


def verify_spec_items(texts: list[str], items: list[dict[str, Any]]) -> list[Any]:
    """Verdicts of ``texts`` against spec ``items`` (and any other arena items), one per text:
    ``registry.verify_items`` after `spec_response`. Code runs only inside the verifier's sandbox."""
    from harness.tasks.registry import verify_items

    if len(texts) != len(items):
        raise ValueError(f"verify_spec_items: {len(texts)} texts for {len(items)} items")
    # the code verifier runs an item's "prompt" beside the tests as trusted helper code
    # (HumanEval's); LiveCodeBench's prompt is prose, so its reference goes without it
    references = [dict(it, prompt="") if it.get("benchmark") == "livecodebench" else it for it in items]
    return verify_items([spec_response(it, t) for t, it in zip(texts, items)], references)


def row_to_item(spec: BenchmarkSpec, row: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The arena item of one dataset row: {"id", "domain", "prompt", "answer", "benchmark"} plus
    "tests"/"entry_point" for code. Raises BadRow naming what is missing."""
    item_id = _row_id(spec, row, index)
    problem = str(_get(spec, row, "problem"))
    item: dict[str, Any] = {"id": item_id, "domain": spec.domain, "benchmark": spec.name}
    rule = spec.reference_rule
    if rule in REFERENCE_RULES:
        item["answer"] = REFERENCE_RULES[rule](_get(spec, row, "reference"))
        item["prompt"] = spec.prompt_template.format(problem=problem)
    elif rule == "choice_shuffled":
        choices, letter = _choices(spec, row, item_id)
        item["answer"] = letter
        item["prompt"] = spec.prompt_template.format(problem=problem, choices=choices)
    elif rule == "evalplus_check":
        entry = str(_get(spec, row, "entry_point"))
        item.update(prompt=spec.prompt_template.format(problem=problem), tests=str(_get(spec, row, "tests")),
                    entry_point=entry, completion_of_prompt=True, stop=list(HUMANEVAL_STOP))
        item["answer"] = problem + str(row.get(spec.fields["solution"], ""))
    elif rule == "mbppplus_script":
        examples = _get(spec, row, "example_test")
        example = str(examples[0] if isinstance(examples, (list, tuple)) and examples else examples)
        entry = _mbpp_entry_point(row, example)
        script = str(_get(spec, row, "tests"))
        # MBPP+ tests are a script calling the function by name; run it inside check() so a
        # failure is a failed check, with that name bound to the candidate
        tests = f"_PLUS_SCRIPT = {script!r}\n\ndef check(candidate):\n    exec(_PLUS_SCRIPT, {{{entry!r}: candidate}})\n"
        item.update(prompt=spec.prompt_template.format(problem=problem.replace('"""', "'''"), example_test=example),
                    tests=tests, entry_point=entry, answer=str(row.get(spec.fields["solution"], "")))
    elif rule == "lcb_tests":
        starter = str(row.get(spec.fields["starter_code"]) or "")
        hint = (f"Complete this starter code and return it in a ```python block:\n```python\n{starter}\n```"
                if starter.strip() else
                "Read the input from stdin and write the answer to stdout; return the program in a ```python block.")
        tests = _lcb_tests(_get(spec, row, "public_tests")) + _lcb_tests(_get(spec, row, "private_tests"))
        meta = row.get(spec.fields["metadata"]) or "{}"
        func_name = (json.loads(meta) if isinstance(meta, str) else dict(meta)).get("func_name")
        functional = bool(func_name) and any(t.get("testtype") == "functional" for t in tests)
        if bool(func_name) != functional and tests:
            raise BadRow(f"{item_id}: func_name {func_name!r} but test types "
                         f"{sorted({str(t.get('testtype')) for t in tests})}: expected functional tests "
                         "with a func_name, stdin tests without")
        item.update(prompt=spec.prompt_template.format(problem=problem, format_hint=hint), answer="",
                    io_tests=tests, starter_code=starter, func_name=func_name,
                    tests=lcb_check_source(tests, functional),
                    entry_point=LCB_CALL if functional else LCB_RUN)
    else:
        raise ValueError(f"{spec.name}: unknown reference_rule {rule!r}")
    return item


def _in_window(spec: BenchmarkSpec, row: Mapping[str, Any]) -> bool:
    lo, hi = spec.filters.get("contest_date_from"), spec.filters.get("contest_date_before")
    if lo is None and hi is None:
        return True
    date = str(row.get(spec.fields.get("date", ""), ""))[:10]
    return (lo is None or date >= lo) and (hi is None or date < hi)


# --- loading --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedBenchmark:
    spec: BenchmarkSpec
    items: list[dict[str, Any]]
    checksum: str      # sha256 of items_checksum(items)
    source: str        # the local file(s), or "hub:<dataset>@<revision>"


def items_checksum(items: list[dict[str, Any]]) -> str:
    """sha256 of the items' canonical JSON (sorted keys, no spaces, UTF-8): two evaluations
    are comparable only when they saw the same checksum."""
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_files(path: Path, split: str) -> list[Path]:
    """The split's files under ``path``, in the layouts ``datasets`` writes."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"benchmark path {path} does not exist")
    patterns = [f"{split}.jsonl", f"{split}.json", f"{split}-*.parquet", f"{split}.parquet", f"{split}-*.jsonl",
                f"data/{split}-*.parquet", f"data/{split}.jsonl", f"*/{split}-*.parquet", f"*/{split}.jsonl"]
    for pattern in patterns:
        found = sorted(path.glob(pattern))
        if found:
            return found
    every = sorted(p for ext in ("*.jsonl", "*.json", "*.parquet") for p in path.rglob(ext))
    if len(every) == 1:
        return every
    raise FileNotFoundError(f"no data files for split {split!r} under {path}: expected one of "
                            f"{', '.join(patterns)} (or a single .jsonl/.parquet file); found {[str(p) for p in every]}")


def _read_rows(file: Path) -> list[dict[str, Any]]:
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(file).to_pylist()
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json" and text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{file}:{n}: not a JSON line ({error})") from None
    return rows


def local_path(name: str, data_dir: str | Path | None = None) -> Path | None:
    """Where a local copy of ``name`` is, under ``data_dir`` (default $HARNESS_BENCHMARK_DIR):
    ``<dir>/<name>/`` or ``<dir>/<name>.jsonl`` / ``.parquet``; None when absent."""
    root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not root:
        return None
    for candidate in (Path(root) / name, Path(root) / f"{name}.jsonl", Path(root) / f"{name}.parquet"):
        if candidate.exists():
            return candidate
    return None


def datasets_importable() -> bool:
    return importlib.util.find_spec("datasets") is not None


def _hub_rows(spec: BenchmarkSpec) -> list[dict[str, Any]]:
    """Rows from the hub via ``datasets`` (never run on the CPU machines: no network)."""
    if not datasets_importable():
        raise RuntimeError(f"{spec.name}: no local path given and `datasets` is not installed; "
                           f"pass a local copy (--data-dir or ${DATA_DIR_ENV}) or `pip install datasets`")
    import datasets

    revision = None if spec.revision == UNPINNED else spec.revision
    if spec.name == "livecodebench":
        # The hub repo's release_vN is a loading script, which datasets >= 4 no longer runs:
        # read the release's raw JSONL files at the pinned commit instead
        files = lcb_release_files(spec.config or "")
        at = f"@{revision}" if revision else ""
        return list(datasets.load_dataset(
            "json", data_files=[f"hf://datasets/{spec.dataset}{at}/{name}" for name in files], split="train"))
    return list(datasets.load_dataset(spec.dataset, spec.config, split=spec.split, revision=revision))


def lcb_release_files(release: str) -> list[str]:
    """The JSONL files of a LiveCodeBench release (cumulative: release_vN = test.jsonl,
    test2.jsonl, ..., testN.jsonl, as the dataset's loading script code_generation_lite.py
    lists them); ValueError naming the known releases otherwise."""
    match = re.fullmatch(r"release_v([1-6])", release)
    if not match:
        raise ValueError(f"livecodebench: unknown release {release!r}; known: release_v1 .. release_v6")
    return ["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, int(match.group(1)) + 1)]


def load_benchmark(name: str, path: str | Path | None = None, *, limit: int | None = None) -> LoadedBenchmark:
    """Items of benchmark ``name`` with their checksum: from ``path`` when given (a file, or a
    folder in the ``datasets`` layout), else from the hub at the spec's revision."""
    if name not in SPECS:
        raise ValueError(f"unknown benchmark {name!r}; available: {sorted(SPECS)}")
    spec = SPECS[name]
    if path is not None:
        files = _data_files(Path(path), spec.split)
        rows = [row for f in files for row in _read_rows(f)]
        source = ",".join(str(f) for f in files)
    else:
        rows = _hub_rows(spec)
        source = f"hub:{spec.dataset}@{spec.revision}"
    items = [row_to_item(spec, row, i) for i, row in enumerate(rows) if _in_window(spec, row)]
    if limit is not None:
        items = items[:limit]
    return LoadedBenchmark(spec, items, items_checksum(items), source)


# --- `harness benchmarks` -------------------------------------------------------------------

def benchmark_rows(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per benchmark: source, revision, size, metric, availability on this machine."""
    hub = datasets_importable()
    rows = []
    for spec in SPECS.values():
        local = local_path(spec.name, data_dir)
        size: int | None = spec.size
        if local is not None:
            available = f"local: {local}"
            try:
                size = len(load_benchmark(spec.name, local).items)
            except (OSError, ValueError) as error:
                available = f"local copy unreadable: {error}"
        elif hub:
            available = "hub via datasets (needs network)"
        else:
            available = "no: no local copy and `datasets` not installed"
        s = spec.sampling
        rows.append({
            "name": spec.name, "title": spec.title, "domain": spec.domain,
            "source": f"{spec.dataset}" + (f" [{spec.config}]" if spec.config else "") + f" split={spec.split}",
            "revision": spec.revision, "revision_source": spec.revision_source or None, "size": size,
            "metric": s.metric.replace("k", str(s.k)) if s.metric != "greedy" else "greedy accuracy",
            "sampling": f"k={s.k} T={s.temperature} top_p={s.top_p}", "sampling_source": s.source,
            "verifiable": spec.verifiable, "available": available,
        })
    return rows


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="harness benchmarks",
                                description="the papers' benchmarks: source, revision, size, metric, availability")
    p.add_argument("--data-dir", default=None, help=f"folder of local copies (default ${DATA_DIR_ENV})")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    args = p.parse_args(argv)
    rows = benchmark_rows(args.data_dir)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(f"## {r['name']}  —  {r['title']}  ({r['domain']}{'' if r['verifiable'] else ', not verifiable yet'})")
        for key in ("source", "revision", "revision_source", "size", "metric", "sampling", "sampling_source",
                    "available"):
            print(f"  {key:16s} {r[key] if r[key] is not None else 'unknown'}")
        print()
    return 0
