"""Science quantity checks, run in a killable worker process (see worker_pool).

The caller (science_verifier) extracts the answer text; this module parses "number unit"
itself and hands pint only what it has already bounded, then compares. pint is never given
a string to parse: a unit expression is tokenised and parsed here into (unit name, integer
exponent) factors with |exponent| <= MAX_UNIT_EXPONENT, each name is looked up with
``registry.get_name`` and the unit is built from those factors. pint's own parser evaluates
``**`` on whatever it is given, so ``m^(9^(9^4))`` raised and ``9^(9^9)`` hung the verifier;
here such text is a parse_error before pint sees it, and the worker's wall-time and
address-space limits are the second layer.

Every regex below is linear: bounded repeats only (``{0,N}``), none nested, on text whose
whitespace has been collapsed and whose length has been capped (tests audit this).

Comparison policy (what the README's "Verifiers" section states):
- An answer is right when, converted to the reference's unit, it lies within
  max(rel_tol * |reference|, abs_tol) of the reference value (tolerance is relative to the
  reference, so a huge answer cannot widen its own tolerance).
- Kinds must match. pint treats radian (and bit, count) as dimensionless, so "28.65 degree"
  would equal the number 0.5; here a quantity's kind is its pint root units, in which
  radian is a base unit of its own: an angle matches only an angle, "6.28 rad/s" is not
  "6.28 Hz", a length is never a bare number.
- A reference without a unit is a pure number: the answer is a bare number, or a number in
  a ratio unit (%, permille, ppm) which is converted (50 % == 0.5). Any other unit is wrong,
  including pint constants such as ``pi`` (a value must be a number, not an expression).
- A reference in a ratio unit ("50 %"): an answer with a unit must be in ratio units too
  ("500 permille"); a bare number is right when it equals either the figure in the
  reference's unit (50) or the plain fraction (0.5). Both are usual unitless ways to state a
  proportion, and they are 100x (1000x, 10^6x) apart, so no bare number can be right under
  both readings of one reference.
- A reference with any other unit needs a unit: a bare number is wrong ("missing unit").
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache

WORKER_ADDRESS_SPACE_BYTES = int(os.environ.get("VERIFIERS_SCIENCE_WORKER_AS_BYTES", 1 << 30))

MAX_INPUT_CHARS = 4_000      # longer text is refused before any regex runs
MAX_QUANTITY_CHARS = 200     # a normalised "number unit" longer than this is not an answer
MAX_NUMBER_DIGITS = 100      # per digit run of the mantissa
MAX_DECIMAL_EXPONENT = 999   # |e| in 1e±N and in "× 10^N"
MAX_UNIT_EXPONENT = 12       # |n| in m^n, also after (m^a)^b is multiplied out
MAX_UNIT_NAME_CHARS = 40
MAX_UNIT_TOKENS = 40
MAX_UNIT_FACTORS = 8         # distinct unit names in one answer
MAX_UNIT_DEPTH = 3           # nested parentheses
MAX_FALLBACK_STARTS = 64     # numbers tried as the start of a "number unit" suffix
#: Dimensionless units that state a proportion; the only units a unitless reference accepts.
RATIO_UNITS = frozenset({"percent", "permille", "ppm"})


class QuantitySyntaxError(ValueError):
    """The text is not a bounded "number [unit]"; the message says what was wrong."""


@dataclass(frozen=True)
class ParsedQuantity:
    """value in the written unit; factors: ((pint canonical unit name, exponent), ...)."""

    value: float
    factors: tuple[tuple[str, int], ...]


# --- normalisation: LaTeX and Unicode spellings to one plain form ------------------------

_SPACE_COMMANDS = re.compile(r"\\[,;:! ]|~")
# "^{\circ}" / "^\circ" / "\circ" / "\degree": first, before "^{...}" becomes "^(...)"
_LATEX_DEGREE = re.compile(r"\^ ?\{ ?\\circ ?\}|\^ ?\\circ(?![A-Za-z])|"
                           r"\\(?:circ|degree)(?![A-Za-z])")
_BRACED_EXPONENT = re.compile(r"\^ ?\{ ?([^{}]{0,20})\}")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textrm|textnormal|mathrm|rm|mathit|textit|mbox|"
                           r"operatorname|unit|si|boxed) ?\{([^{}]{0,120})\}")
_LATEX_FRACTION = re.compile(r"\\[dt]?frac ?\{([^{}]{1,60})\} ?\{([^{}]{1,60})\}")
_LATEX_SYMBOLS = [(re.compile(r"\\(?:cdot|times)(?![A-Za-z])"), "*"),
                  (re.compile(r"\\(?:mu|micro)(?![A-Za-z]) ?"), "µ"),
                  (re.compile(r"\\(?:Omega|ohm)(?![A-Za-z])"), "Ω"),
                  (re.compile(r"\\(?:AA|angstrom)(?![A-Za-z])"), "Å"),
                  (re.compile(r"\\%"), "%")]
_UNICODE = str.maketrans({"×": "*", "·": "*", "⋅": "*", "∙": "*", "−": "-", "–": "-",
                          "μ": "µ", "Ω": "Ω", "Å": "Å", "{": "(", "}": ")"})
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]{1,4}")
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_DEGREE_TEMPERATURE = re.compile(r"° ?([CF])(?![A-Za-z])")
_SYMBOL_NAMES = [("°", " degree"), ("%", " percent"), ("‰", " permille")]


def collapse_whitespace(text: str) -> str:
    """Every run of whitespace to one space, ends stripped (linear, no regex)."""
    return " ".join(text.split())


def normalise(text: str) -> str:
    """One plain spelling of a quantity: '9.81\\,\\mathrm{m\\,s^{-2}}' -> '9.81 m s^(-2)'.

    Raises QuantitySyntaxError for text too long to be an answer (before any regex runs)."""
    if len(text) > MAX_INPUT_CHARS:
        raise QuantitySyntaxError(f"answer has {len(text)} chars (limit {MAX_INPUT_CHARS})")
    text = collapse_whitespace(_SPACE_COMMANDS.sub(" ", text))
    text = _LATEX_DEGREE.sub("°", text)
    for _ in range(3):  # wrappers nest ("\text{\mathrm{m}}"); three levels, then give up
        before = text
        text = _BRACED_EXPONENT.sub(r"^(\1)", text)
        text = _TEXT_WRAPPER.sub(r"\1", text)
        text = _LATEX_FRACTION.sub(r"(\1)/(\2)", text)
        if text == before:
            break
    for pattern, replacement in _LATEX_SYMBOLS:
        text = pattern.sub(replacement, text)
    text = text.translate(_UNICODE)
    text = _SUPERSCRIPT_RUN.sub(lambda run: "^" + run.group(0).translate(_SUPERSCRIPT), text)
    text = _DEGREE_TEMPERATURE.sub(r" deg\1", text)
    for symbol, name in _SYMBOL_NAMES:
        text = text.replace(symbol, name)
    return collapse_whitespace(text)


# --- numbers -----------------------------------------------------------------------------

_EXPONENT = rf"[+-]?[0-9]{{1,{len(str(MAX_DECIMAL_EXPONENT))}}}"
_DIGITS = rf"[0-9]{{1,{MAX_NUMBER_DIGITS}}}"
_NUMBER = re.compile(
    r"(?P<sign>[+-]?) ?(?:"
    r"(?P<power>10 ?(?:\^|\*\*) ?(?:\( ?(?P<power_exp>" + _EXPONENT + r") ?\)|(?P<power_exp2>"
    + _EXPONENT + r")))"
    r"|(?P<mantissa>" + _DIGITS + r"(?:\.(?:" + _DIGITS + r")?)?|\." + _DIGITS + r")"
    r"(?:[eE](?P<e_exp>" + _EXPONENT + r"))?"
    r"(?: ?(?:\*|x) ?10 ?(?:\^|\*\*) ?(?:\( ?(?P<times_exp>" + _EXPONENT + r") ?\)|(?P<times_exp2>"
    + _EXPONENT + r")))?)")


def _parse_number(text: str) -> tuple[float, str]:
    """(value, the rest of text) for a number at the start of normalised text."""
    match = _NUMBER.match(text)
    if not match:
        raise QuantitySyntaxError(f"no number at the start of {text[:40]!r}")
    if match.group("power"):
        mantissa, exponent = "1", int(match.group("power_exp") or match.group("power_exp2"))
    else:
        mantissa = match.group("mantissa")
        exponent = int(match.group("e_exp") or 0) + \
            int(match.group("times_exp") or match.group("times_exp2") or 0)
    # each exponent has at most 3 digits, so float() parses a short string; inf is overflow
    value = float(f"{match.group('sign')}{mantissa}e{exponent}")
    if not math.isfinite(value):
        raise QuantitySyntaxError(f"number {match.group(0)[:40]!r} is out of range")
    return value, text[match.end():]


# --- units: a small recursive-descent parser with pint's precedence ------------------------
# pint reads "J/mol K" as (J/mol)*K and "m/s/s" as m/s^2: '*', '/' and juxtaposition share one
# precedence, left to right, and '/' divides by the next term only. We keep that, so a unit
# means here what it means to pint (tests compare the two on benign units).

_UNIT_TOKEN = re.compile(r" ?(?:(?P<name>[A-Za-zµΩÅ_]{1,%d})|(?P<int>[0-9]{1,3})|"
                         r"(?P<op>\*\*|[*/^()+-]))" % MAX_UNIT_NAME_CHARS)


def _tokenise_unit(text: str) -> list[tuple[str, str, bool]]:
    """[(kind, text, preceded by a space)]; kind is "name", "int" or "op"."""
    if len(text) > MAX_QUANTITY_CHARS:
        raise QuantitySyntaxError(f"unit has {len(text)} chars (limit {MAX_QUANTITY_CHARS})")
    tokens, position = [], 0
    while position < len(text):
        match = _UNIT_TOKEN.match(text, position)
        if not match:
            raise QuantitySyntaxError(f"unexpected {text[position:position + 10]!r} in unit")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.group(0).startswith(" ")))
        position = match.end()
        if len(tokens) > MAX_UNIT_TOKENS:
            raise QuantitySyntaxError(f"unit has more than {MAX_UNIT_TOKENS} tokens")
    return tokens


class _UnitParser:
    """Grammar: expr := term (('*' | '/' | juxtaposition) term)*;
    term := atom [('^' | '**') exponent]; atom := name | '1' | '(' expr ')';
    exponent := [sign] int | '(' [sign] int ')'. Exponents are bounded integers."""

    def __init__(self, tokens: list[tuple[str, str, bool]]) -> None:
        self.tokens, self.position = tokens, 0

    def _peek(self) -> tuple[str, str, bool] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str, bool]:
        token = self._peek()
        if token is None:
            raise QuantitySyntaxError("unit ends where a unit name was expected")
        self.position += 1
        return token

    def _is_op(self, value: str) -> bool:
        token = self._peek()
        return token is not None and token[0] == "op" and token[1] == value

    def parse(self) -> dict[str, int]:
        factors = self._expr(0)
        if self._peek() is not None:
            raise QuantitySyntaxError(f"unexpected {self._peek()[1]!r} after the unit")
        return factors

    def _expr(self, depth: int) -> dict[str, int]:
        factors = self._term(depth)
        while True:
            token = self._peek()
            if token is None or (token[0] == "op" and token[1] == ")"):
                return factors
            if token[0] == "op" and token[1] in ("*", "/"):
                self.position += 1
                sign = 1 if token[1] == "*" else -1
            elif token[0] == "name" or (token[0] == "op" and token[1] == "("):
                sign = 1  # juxtaposition: "kg m" is kg*m
            else:
                raise QuantitySyntaxError(f"unexpected {token[1]!r} in unit")
            _accumulate(factors, self._term(depth), sign)

    def _term(self, depth: int) -> dict[str, int]:
        kind, text, _ = self._take()
        if kind == "name":
            factors = {text: 1}
        elif kind == "int" and text == "1":
            factors = {}  # "1/mol"
        elif kind == "op" and text == "(":
            if depth >= MAX_UNIT_DEPTH:
                raise QuantitySyntaxError(f"unit nested deeper than {MAX_UNIT_DEPTH}")
            factors = self._expr(depth + 1)
            if not self._is_op(")"):
                raise QuantitySyntaxError("unclosed '(' in unit")
            self.position += 1
        else:
            raise QuantitySyntaxError(f"{text!r} where a unit name was expected")
        if self._is_op("^") or self._is_op("**"):
            self.position += 1
            exponent = self._exponent()
            factors = {name: power * exponent for name, power in factors.items()}
            _check_exponents(factors)
        return factors

    def _exponent(self) -> int:
        bracketed = self._is_op("(")
        if bracketed:
            self.position += 1
        sign = 1
        if self._is_op("-") or self._is_op("+"):
            sign = -1 if self._take()[1] == "-" else 1
        kind, text, _ = self._take()
        if kind != "int":
            raise QuantitySyntaxError(f"unit exponent must be an integer, got {text!r}")
        if bracketed:
            if not self._is_op(")"):
                raise QuantitySyntaxError("unit exponent must be a plain integer")
            self.position += 1
        exponent = sign * int(text)
        if abs(exponent) > MAX_UNIT_EXPONENT:
            raise QuantitySyntaxError(f"unit exponent {exponent} exceeds {MAX_UNIT_EXPONENT}")
        if self._is_op("^") or self._is_op("**"):
            raise QuantitySyntaxError("stacked unit exponents are not a unit")
        return exponent


def _check_exponents(factors: dict[str, int]) -> None:
    for name, power in factors.items():
        if abs(power) > MAX_UNIT_EXPONENT:
            raise QuantitySyntaxError(f"unit {name}^{power}: exponent exceeds "
                                      f"{MAX_UNIT_EXPONENT}")


def _accumulate(into: dict[str, int], factors: dict[str, int], sign: int) -> None:
    for name, power in factors.items():
        into[name] = into.get(name, 0) + sign * power
    _check_exponents(into)
    if len(into) > MAX_UNIT_FACTORS:
        raise QuantitySyntaxError(f"unit has more than {MAX_UNIT_FACTORS} factors")


def parse_unit_factors(text: str) -> dict[str, int]:
    """Written unit names -> integer exponents for a normalised unit expression
    ("kg m/s^2" -> {"kg": 1, "m": 1, "s": -2}); names are not looked up here."""
    factors = _UnitParser(_tokenise_unit(text)).parse()
    return {name: power for name, power in factors.items() if power}


# --- pint: only bounded factors reach it ---------------------------------------------------

@lru_cache(maxsize=1)
def unit_registry():
    import pint
    return pint.UnitRegistry()


@lru_cache(maxsize=4096)
def _pint_name(name: str) -> str | None:
    # unknown names are cached too: the fallback may try the same junk word 64 times
    try:
        return unit_registry().get_name(name) or None  # "dimensionless" -> "": not a unit
    except Exception:  # pint raises UndefinedUnitError, or others on odd names
        return None


def canonical_unit_name(name: str) -> str:
    """pint's canonical name for one written unit name ("km" -> "kilometer"); raises
    QuantitySyntaxError for a name pint does not define."""
    canonical = _pint_name(name)
    if canonical is None:
        raise QuantitySyntaxError(f"unknown unit {name!r}")
    return canonical


def parse_quantity(text: str) -> ParsedQuantity:
    """The bounded "number [unit]" that is the whole of ``text`` (raw answer text)."""
    normalised = normalise(text)
    if len(normalised) > MAX_QUANTITY_CHARS:
        raise QuantitySyntaxError(f"answer has {len(normalised)} chars after normalising "
                                  f"(limit {MAX_QUANTITY_CHARS})")
    return _parse_normalised(normalised)


def _parse_normalised(normalised: str) -> ParsedQuantity:
    value, rest = _parse_number(normalised)
    rest = rest.strip()
    if not rest:
        return ParsedQuantity(value, ())
    merged: dict[str, int] = {}
    for name, power in parse_unit_factors(rest).items():
        canonical = canonical_unit_name(name)
        merged[canonical] = merged.get(canonical, 0) + power
    _check_exponents(merged)
    return ParsedQuantity(value, tuple(sorted((n, p) for n, p in merged.items() if p)))


_FALLBACK_START = re.compile(r"(?<![A-Za-z0-9.^_])[+-]?\.?[0-9]")


def parse_last_quantity(line: str) -> ParsedQuantity:
    """The leftmost "number unit" suffix of ``line`` that parses (the documented fallback for
    a response with no \\boxed{} and no "A:" line: the last line holding a digit)."""
    normalised = normalise(line)[-2 * MAX_QUANTITY_CHARS:]
    starts = [m.start() for m in _FALLBACK_START.finditer(normalised)][-MAX_FALLBACK_STARTS:]
    error: Exception = QuantitySyntaxError("no number on the last line")
    for start in starts:
        suffix = normalised[start:]
        if len(suffix) > MAX_QUANTITY_CHARS:
            continue
        try:
            return _parse_normalised(suffix)
        except QuantitySyntaxError as failure:
            error = failure
    raise error


def _unit(factors: tuple[tuple[str, int], ...]):
    import pint.util
    return unit_registry().Unit(pint.util.UnitsContainer(dict(factors)))


def _is_ratio(factors: tuple[tuple[str, int], ...]) -> bool:
    return bool(factors) and all(name in RATIO_UNITS for name, _ in factors)


@dataclass(frozen=True)
class _Reference:
    quantity: ParsedQuantity
    kind: object      # pint root unit (radian kept as its own base), or None when unitless
    value: float      # the reference value in its own unit
    fraction: float | None  # ratio references: the plain fraction (0.5 for 50 %)


@lru_cache(maxsize=4096)
def _reference(text: str) -> _Reference:
    quantity = parse_quantity(text)
    if not quantity.factors:
        return _Reference(quantity, None, quantity.value, None)
    unit = _unit(quantity.factors)
    registry = unit_registry()
    fraction = float(registry.Quantity(quantity.value, unit).to("dimensionless").magnitude) \
        if _is_ratio(quantity.factors) else None
    return _Reference(quantity, registry.get_root_units(unit)[1], quantity.value, fraction)


def _within(got: float, want: float, rel_tol: float, abs_tol: float) -> bool:
    return math.isfinite(got) and abs(got - want) <= max(rel_tol * abs(want), abs_tol)


def _describe(factors: tuple[tuple[str, int], ...]) -> str:
    return " ".join(name if power == 1 else f"{name}^{power}" for name, power in factors) \
        or "no unit"


def compare(got: ParsedQuantity, reference: _Reference, rel_tol: float,
            abs_tol: float) -> tuple[bool, str]:
    """(right, reason) under the module docstring's policy."""
    want = reference.quantity
    if not want.factors:  # a pure number
        if not got.factors:
            value = got.value
        elif _is_ratio(got.factors):
            value = float(unit_registry().Quantity(got.value, _unit(got.factors))
                          .to("dimensionless").magnitude)
        else:
            return False, f"unit {_describe(got.factors)} on a unitless answer"
        if _within(value, want.value, rel_tol, abs_tol):
            return True, f"within rel_tol {rel_tol:g}"
        return False, f"{value:g} vs {want.value:g} (rel_tol {rel_tol:g})"
    if not got.factors:
        if reference.fraction is not None and (
                _within(got.value, want.value, rel_tol, abs_tol)
                or _within(got.value, reference.fraction, rel_tol, abs_tol)):
            return True, "bare number equals the ratio"
        if reference.fraction is not None:
            return False, f"{got.value:g} is neither {want.value:g} nor {reference.fraction:g}"
        return False, f"missing unit (expected {_describe(want.factors)})"
    if reference.fraction is not None and not _is_ratio(got.factors):
        return False, f"unit {_describe(got.factors)} on a ratio answer"
    registry = unit_registry()
    unit = _unit(got.factors)
    if registry.get_root_units(unit)[1] != reference.kind:
        return False, f"wrong kind of quantity: {_describe(got.factors)} vs " \
                      f"{_describe(want.factors)}"
    try:
        value = float(registry.Quantity(got.value, unit).to(_unit(want.factors)).magnitude)
    except Exception as error:  # offset units in a product (degC*m) do not convert
        raise QuantitySyntaxError(f"cannot convert {_describe(got.factors)}: "
                                  f"{type(error).__name__}") from None
    if _within(value, want.value, rel_tol, abs_tol):
        return True, f"within rel_tol {rel_tol:g}"
    return False, f"{value:g} vs {want.value:g} {_describe(want.factors)} (rel_tol {rel_tol:g})"


def check(request: dict) -> dict:
    """request: {"answer": str, "fallback": bool, "reference": str, "rel_tol": float,
    "abs_tol": float} -> {"status", "score", "detail"}. "fallback": the answer is the last
    line holding a digit, and its leftmost "number unit" suffix that parses is the answer."""
    from pint.errors import PintError
    try:
        reference = _reference(request["reference"])
    except (QuantitySyntaxError, ArithmeticError, PintError) as error:
        return {"status": "internal_error", "score": 0.0,
                "detail": f"reference {request['reference'][:60]!r} did not parse: {error}"}
    try:
        got = parse_last_quantity(request["answer"]) if request.get("fallback") else \
            parse_quantity(request["answer"])
        right, reason = compare(got, reference, float(request["rel_tol"]),
                                float(request["abs_tol"]))
    except (QuantitySyntaxError, ArithmeticError, PintError) as error:
        return {"status": "parse_error", "score": 0.0, "detail": str(error)[:300]}
    return {"status": "ok", "score": 1.0 if right else 0.0, "detail": reason[:300]}


def _warm_up() -> None:
    """Build the registry and touch every comparison path once, so that pint's lazy work
    (definitions, root-unit caches) happens here and not inside a timed check."""
    for answer, reference in (("980 cm/s^2", "9.8 m/s^2"), ("50", "50 %"), ("0.5", "50 %"),
                              ("298.15 K", "25 degC"), ("30°", "0.5236 rad"), ("5 kg", "5 m"),
                              ("3.0 \\times 10^{8} m/s", "299792458 m/s"), ("42", "42")):
        check({"answer": answer, "reference": reference, "rel_tol": 1e-2, "abs_tol": 0.0})
    _reference.cache_clear()


def worker_entry() -> None:
    from verifiers.worker_pool import worker_main
    worker_main(check, WORKER_ADDRESS_SPACE_BYTES, warm_up=_warm_up)
