"""The Jinja sandbox a marketer's template runs in: no Python internals, and bounded.

Jinja's sandbox stops a template from reaching Python internals; it does not stop
`{{ 'x' * 10**9 }}` (4 GB), `'%1000000000s'|format`, `{{ 10**100000 }}` or two nested loops over
a long string (hours). Every render here runs under a `Budget`:

- operations that could build something huge are refused *before* they compute it: `*` and `+`
  on strings and lists, `**` and `*` on numbers, `%` and `str.format` widths, `~`, and the
  filters and string methods that multiply their input (join, replace, center, indent, ...);
- every string built (operators, filters, methods, `{% set %}` and macro buffers, the output
  itself) is counted, so what a render can hold is bounded by the byte limit;
- every loop iteration is counted, and the CPU clock is read on loop iterations, calls,
  attribute lookups and output, so a render stops within a few milliseconds of its time limit.

No signals: the worker renders in threads. Limits raise `TemplateLimitError` naming the setting.
What stays unbounded is a single C-level operation, whose input is itself bounded by the above.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import update_wrapper

from jinja2 import nodes, pass_eval_context
from jinja2.compiler import CodeGenerator
from jinja2.filters import FILTERS
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

# Integers past this many bits are refused (Python itself refuses to print more than 4300 digits).
MAX_INT_BITS = 16_384
# Strings built along the way (buffers, joins, copies) may together be this many times the
# output limit; they are counted when built and never un-counted, so this bounds memory too.
BUILD_FACTOR = 8
# Check the clock on every CLOCK_EVERY-th step: reading a thread's CPU clock is a system call.
CLOCK_EVERY = 32
# Methods of str/bytes whose result can be much larger than the string they are called on.
GROWING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join",
                             "translate", "to_bytes"})
LOOP_FILTER = "nl_counted_loop"
PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


class TemplateLimitError(RuntimeError):
    """A render went past one of the limits; the message names the setting to raise."""


@dataclass(frozen=True)
class Limits:
    """Per-render limits (config: NEWSLETTER_TEMPLATE_MAX_SECONDS, _MAX_BYTES, _MAX_LOOP)."""

    seconds: float = 2.0
    max_bytes: int = 2 * 1024 * 1024
    max_loop: int = 100_000

    @classmethod
    def from_config(cls, config: Mapping) -> Limits:
        """The limits an app is configured with (defaults for a missing key)."""
        return cls(float(config.get("NEWSLETTER_TEMPLATE_MAX_SECONDS", cls.seconds)),
                   int(config.get("NEWSLETTER_TEMPLATE_MAX_BYTES", cls.max_bytes)),
                   int(config.get("NEWSLETTER_TEMPLATE_MAX_LOOP", cls.max_loop)))

    def too_big(self, what: str) -> TemplateLimitError:
        """The error for something larger than the byte limit."""
        return TemplateLimitError(f"{what} would be larger than {self.max_bytes} bytes "
                                  "(NEWSLETTER_TEMPLATE_MAX_BYTES)")


class Budget:
    """What one render has used so far: CPU time, loop iterations, bytes built."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.deadline = time.thread_time() + limits.seconds
        self.loops = self.built = self.steps = 0

    def tick(self) -> None:
        """One step of work; every CLOCK_EVERY-th step reads the clock."""
        self.steps += 1
        if self.steps % CLOCK_EVERY == 0:
            self.check_clock()

    def check_clock(self) -> None:
        """Refuse to go on past the time limit."""
        if time.thread_time() > self.deadline:
            raise TemplateLimitError(f"rendering took longer than {self.limits.seconds:g} s "
                                     "(NEWSLETTER_TEMPLATE_MAX_SECONDS)")

    def loop(self) -> None:
        """One loop iteration."""
        self.loops += 1
        if self.loops > self.limits.max_loop:
            raise TemplateLimitError(f"more than {self.limits.max_loop} loop iterations "
                                     "(NEWSLETTER_TEMPLATE_MAX_LOOP)")
        self.tick()

    def allow(self, size: int, what: str = "a value") -> None:
        """Refuse, before it is built, a string or list of `size` bytes/items; else count it."""
        if size > self.limits.max_bytes:
            raise self.limits.too_big(what)
        self.built += size
        if self.built > self.limits.max_bytes * BUILD_FACTOR:
            raise self.limits.too_big("the text built while rendering")
        self.tick()


_current: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def budget() -> Budget:
    """The budget of the render in progress (each thread has its own)."""
    active = _current.get()
    if active is None:
        # Jinja evaluates constant expressions at compile time; refusing here makes it leave
        # them to the render, where they are bounded like everything else.
        raise TemplateLimitError("bounded operations run only inside a render")
    return active


def render(template, context: dict, limits: Limits) -> str:
    """Render `template` under `limits`; raise TemplateLimitError when one is reached."""
    active = Budget(limits)
    token = _current.set(active)
    try:
        parts, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > limits.max_bytes:
                raise limits.too_big("the rendered text")
            active.tick()
            parts.append(chunk)
        active.check_clock()
        return "".join(parts)
    finally:
        _current.reset(token)


# --- size estimates, made before the work -----------------------------------------------------------


def _length(value) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _int_bits(value) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def check_binop(operator: str, left, right) -> None:
    """Refuse `left <operator> right` when its result would be over a limit."""
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if _int_bits(left) > 1 and _int_bits(left) * right > MAX_INT_BITS:
                raise TemplateLimitError(f"the number {left}**{right} is too large "
                                         f"(more than {MAX_INT_BITS} bits)")
        return
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
            if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
                raise TemplateLimitError(f"a product larger than {MAX_INT_BITS} bits")
            return
        count = right if isinstance(right, int) else left if isinstance(left, int) else 0
        budget().allow(max(0, count) * (_length(left) + _length(right)), "a repeated value")
    elif operator == "+":
        budget().allow(_length(left) + _length(right), "a joined value")
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


def check_printf(fmt: str, args) -> None:
    """Refuse a %-format whose widths or precisions would build a huge string."""
    values = args if isinstance(args, tuple) else (args,)
    size = len(fmt) + sum(len(str(v)) for v in values if isinstance(v, str))
    for width, precision in PRINTF_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                size += max((v for v in values if isinstance(v, int)), default=0)
            elif number:
                size += int(number) if len(number) < 20 else 10 ** 20
    budget().allow(size, "a formatted value")


def check_format(fmt: str, args: tuple, kwargs: Mapping) -> None:
    """Refuse a str.format call whose widths, or repeated fields, would build a huge string."""
    values = list(args) + list(kwargs.values())
    longest = max((len(v) for v in values if isinstance(v, str)), default=0)
    size = len(fmt)
    for _literal, field, spec, _conversion in string.Formatter().parse(fmt):
        if field is None:
            continue
        size += longest
        for number in re.findall(r"\d+", spec or ""):
            size += int(number) if len(number) < 20 else 10 ** 20
        if spec and "{" in spec:
            size += max((v for v in values if isinstance(v, int)), default=0)
    budget().allow(size, "a formatted value")


def check_method(obj, args: tuple, kwargs: Mapping) -> None:
    """Refuse a call of a str/bytes/int method that would grow its input past the limit."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if name not in GROWING_METHODS or not isinstance(owner, (str, bytes, int)):
        return
    numbers = [a for a in list(args) + list(kwargs.values()) if isinstance(a, int)]
    if name == "to_bytes":
        budget().allow(max(numbers, default=1), "a byte string")
    elif name in ("center", "ljust", "rjust", "zfill"):
        budget().allow(max(numbers + [len(owner)]), "a padded value")
    elif name == "expandtabs":
        budget().allow(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t")
                       * max(numbers, default=8), "a value with tabs expanded")
    elif name == "replace" and len(args) >= 2:
        budget().allow(_replaced_size(owner, args[0], args[1]), "a value after replace()")
    elif name == "translate" and args and isinstance(args[0], Mapping):
        widest = max((_length(v) for v in args[0].values()), default=1)
        budget().allow(len(owner) * max(1, widest), "a translated value")
    elif name == "join" and args:
        pieces = list(args[0]) if not isinstance(args[0], (list, tuple)) else args[0]
        budget().allow(sum(map(_length, pieces)) + len(owner) * max(0, len(pieces) - 1),
                       "a joined value")


def _replaced_size(value, old, new) -> int:
    if not isinstance(value, (str, bytes)) or not isinstance(old, type(value)):
        return _length(value)
    count = value.count(old) if old else len(value) + 1
    return len(value) + count * max(0, _length(new) - len(old))


# --- bounded filters -----------------------------------------------------------------------------------


def _wrap(original, check):
    """`original` with `check(*args, **kwargs)` run first (args without Jinja's pass-arg)."""
    passes = getattr(original, "jinja_pass_arg", None)

    def bounded(*args, **kwargs):
        check(*(args[1:] if passes is not None else args), **kwargs)
        return original(*args, **kwargs)

    update_wrapper(bounded, original)
    return bounded


def _check_replace(value, old, new, count=None):
    budget().allow(_replaced_size(str(value), str(old), str(new)), "a value after replace")


def _check_center(value, width=80):
    budget().allow(max(_length(str(value)), int(width)), "a centred value")


def _check_indent(value, width=4, first=False, blank=False):
    text = str(value)
    budget().allow(len(text) + (text.count("\n") + 1) * (_length(width) or int(width)),
                   "an indented value")


def _check_wordwrap(value, width=79, break_long_words=True, wrapstring=None,
                    break_on_hyphens=True):
    text = str(value)
    breaks = text.count(" ") + len(text) // max(1, int(width)) + 1
    budget().allow(len(text) + breaks * len(wrapstring or "\n"), "a wrapped value")


def _check_format(value, *args, **kwargs):
    check_printf(str(value), tuple(args) if not kwargs else kwargs)


def _check_batch(value, linecount, fill_with=None):
    if fill_with is not None:
        budget().allow(int(linecount), "a filled batch")


def _check_slice(value, slices, fill_with=None):
    budget().allow(int(slices), "a list of slices")


def _check_tojson(value, indent=None):
    if indent is not None and _length(indent) + (indent if isinstance(indent, int) else 0) > 8:
        raise TemplateLimitError("tojson: indent must be at most 8")


@pass_eval_context
def _join(eval_ctx, value: Iterable, d: str = "", attribute=None):
    items = list(value)
    separator = len(str(d)) * max(0, len(items) - 1)
    budget().allow(separator + sum(len(str(i)) for i in items if attribute is None),
                   "a joined value")
    result = FILTERS["join"](eval_ctx, items, d, attribute)
    budget().allow(len(result), "a joined value")
    return result


BOUNDED_FILTERS = {
    "replace": _wrap(FILTERS["replace"], _check_replace),
    "center": _wrap(FILTERS["center"], _check_center),
    "indent": _wrap(FILTERS["indent"], _check_indent),
    "wordwrap": _wrap(FILTERS["wordwrap"], _check_wordwrap),
    "format": _wrap(FILTERS["format"], _check_format),
    "batch": _wrap(FILTERS["batch"], _check_batch),
    "slice": _wrap(FILTERS["slice"], _check_slice),
    "tojson": _wrap(FILTERS["tojson"], _check_tojson),
    "join": _join,
}


# --- the environment ------------------------------------------------------------------------------------


class BoundedBuffer(list):
    """The list Jinja collects `{% set %}`, macro and filter-block output in; counts it."""

    def append(self, item) -> None:
        """Count, then keep."""
        budget().allow(_length(item), "a captured block")
        super().append(item)

    def extend(self, items) -> None:
        """Count, then keep."""
        items = list(items)
        budget().allow(sum(map(_length, items)), "a captured block")
        super().extend(items)


def guard_loop(iterable):
    """`iterable`, each iteration counted against the render's budget."""
    active = budget()  # now, not at the first iteration: outside a render this must raise

    def counted():
        for item in iterable:
            active.loop()
            yield item

    return counted()


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with capture buffers and `~` counted."""

    def buffer(self, frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.bounded_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.bounded_concat(")
        if frame.eval_ctx.volatile:
            self.write("(markup_join if context.eval_ctx.volatile else str_join), (")
        else:
            self.write("markup_join, (" if frame.eval_ctx.autoescape else "str_join, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class CampaignEnvironment(ImmutableSandboxedEnvironment):
    """Immutable sandbox: no Python internals, no changing the values given to the template,
    and every render bounded (see the module docstring).

    Jinja's sandbox quietly renders a forbidden attribute (`x.__class__`) as empty; we raise
    instead, so the save-time check refuses such a template with its line number.
    """

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options):
        super().__init__(**options)
        self.filters.update(BOUNDED_FILTERS)
        self.filters[LOOP_FILTER] = guard_loop

    def _generate(self, source, name, filename, defer_init=False):
        # Every loop's iterable goes through the counting filter (a recursive loop's inner
        # calls, `loop(children)`, are wrapped in call()).
        for loop in source.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == LOOP_FILTER):
                loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None,
                                         lineno=loop.iter.lineno)
        return super()._generate(source, name, filename, defer_init)

    def unsafe_undefined(self, obj, attribute):
        """Refuse instead of rendering nothing."""
        raise SecurityError(f"access to {attribute!r} of {type(obj).__name__} is not allowed")

    def call_binop(self, context, operator, left, right):
        """Refuse a huge result before computing it."""
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        """Count the call; refuse a string method that would grow past the limit."""
        budget().tick()
        check_method(__obj, args, kwargs)
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (guard_loop(args[0]),) + args[1:]
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj, attribute):
        """Count the lookup (a tight loop of lookups reaches the clock check too)."""
        budget().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        """Count the lookup."""
        budget().tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value):
        """str.format / format_map, with the result's size checked before formatting."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def bounded(*args, **kwargs):
            mapping = args[0] if value.__name__ == "format_map" and args else kwargs
            check_format(fmt, args if value.__name__ == "format" else (), mapping)
            return wrapped(*args, **kwargs)

        return update_wrapper(bounded, wrapped)

    @staticmethod
    def bounded_buffer() -> BoundedBuffer:
        """A fresh capture buffer (called by the generated code)."""
        return BoundedBuffer()

    @staticmethod
    def bounded_concat(join, values: tuple):
        """`a ~ b`, refused before joining when too large (called by the generated code)."""
        budget().allow(sum(len(str(v)) for v in values), "a joined value")
        return join(values)
