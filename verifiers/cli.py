"""``harness verify DOMAIN --response TEXT --reference TEXT_OR_JSON`` -> verdict as JSON.

--reference is parsed as JSON when it is a JSON object (a benchmark item such as
{"tests": ..., "entry_point": ...}); otherwise it is the answer string itself.
--response - / --reference @FILE read from stdin / a file.
"""
from __future__ import annotations

import argparse
import json
import sys

from verifiers import DOMAINS, verify
from verifiers.sandbox import SandboxUnavailable


def _text(value: str) -> str:
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        with open(value[1:], encoding="utf-8") as handle:
            return handle.read()
    return value


def _reference(text: str):
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            raise SystemExit(f"--reference looks like JSON but does not parse: {error}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness verify", description=__doc__.splitlines()[0])
    parser.add_argument("domain", choices=DOMAINS)
    parser.add_argument("--response", required=True, help="model output (- for stdin, @FILE)")
    parser.add_argument("--reference", required=True,
                        help="answer string, or the item as a JSON object (@FILE to read one)")
    parser.add_argument("--timeout-s", type=float, default=None, help="per-check wall time")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="code only: run the candidate WITHOUT bubblewrap isolation")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        verdict = verify(args.domain, _text(args.response), _reference(_text(args.reference)),
                         timeout_s=args.timeout_s, unsafe_no_sandbox=args.unsafe_no_sandbox)
    except SandboxUnavailable as error:
        print(f"harness verify: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"harness verify: {error}", file=sys.stderr)
        return 2
    print(json.dumps(verdict.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
