"""What every command shares: one-line user errors (exit 2), --help that shows the command's own
docstring and flags, and the parsing of seeds, ranges and classes."""

import bisect
import collections.abc
import contextlib
import itertools
import pathlib
import re
import sys


class UserError(Exception):
    """A problem with the user's input: reported as one line on stderr, exit status 2."""


def fail(message, status=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def script_help(module):
    """Make `python generate.py --help` show this module's docstring and flags: absl describes the
    flags of sys.argv[0] and the __main__ docstring, which are the 3-line launcher's."""
    from absl import flags

    main = sys.modules.get("__main__")
    if main is not None and module.__doc__:
        main.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


HELP_FLAGS = ("-h", "-help", "--help", "--helpshort", "-?")


def run_script(main, module, flags_parser=None):
    """absl's app.run for a command, with `--help` showing the command's own docstring and flags
    and exiting 0 (absl exits 1), and `--helpfull` every flag."""
    from absl import app

    script_help(module)
    args = sys.argv[1:]
    if any(a in HELP_FLAGS or a == "--helpfull" for a in args):
        app.usage(shorthelp="--helpfull" not in args, writeto_stdout=True, exitcode=0)
    app.run(main, flags_parser=flags_parser or _parse_flags)


def _parse_flags(argv):
    """absl's flag parsing, with a bad flag value (e.g. an enum outside its choices) reported as
    one line and exit status 2 like every other user error (absl prints two lines, exits 1)."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e))


def quiet_logs():
    """TF's Python INFO logs go through absl logging: keep them out unless --verbosity asks."""
    from absl import flags, logging

    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


@contextlib.contextmanager
def user_errors():
    """Turn UserError (raised anywhere in a command) into one stderr line and exit status 2."""
    quiet_logs()
    try:
        yield
    except UserError as e:
        fail(str(e))


class RangeList(collections.abc.Sequence):
    """The integers of several ranges, in order, without materialising them (--seeds 0-99999999
    is 100 million seeds)."""

    def __init__(self, ranges):
        self.ranges = [r for r in ranges if len(r)]
        self._starts = list(itertools.accumulate([0] + [len(r) for r in self.ranges]))

    def __len__(self):
        return self._starts[-1]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect.bisect_right(self._starts, index) - 1
        return self.ranges[k][index - self._starts[k]]

    def __iter__(self):
        return itertools.chain.from_iterable(self.ranges)

    def __eq__(self, other):
        return list(self) == list(other)

    def __add__(self, other):
        return list(self) + list(other)

    def __radd__(self, other):
        return list(other) + list(self)

    def __repr__(self):
        return f"RangeList({self.ranges!r})"


def parse_range(text, what="seeds"):
    """'0-31,40' -> [0, 1, ..., 31, 40] (a lazy RangeList): comma-separated non-negative integers
    or inclusive ranges a-b (NVIDIA's run_generator.py / ADA-PT generate.py syntax)."""
    if text is None or not str(text).strip():
        raise UserError(f"--{what}: empty list (expected e.g. 0-31,40)")
    values = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part) or re.fullmatch(r"(\d+)", part)
        if not m:
            raise UserError(f"--{what}: cannot parse {part!r} in {text!r} (expected e.g. 0-31,40)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.lastindex == 2 else lo
        if hi < lo:
            raise UserError(f"--{what}: range {part!r} ends before it starts")
        values.append(range(lo, hi + 1))
    return RangeList(values)


def parse_seeds(text, what="seeds"):
    seeds = parse_range(text, what)
    bad = [r.stop - 1 for r in seeds.ranges if r.stop - 1 >= 2**32]
    if bad:
        raise UserError(f"--{what}: seed {bad[0]} is outside NumPy's RandomState range 0..2**32-1")
    return seeds


def parse_class(text):
    """--class value: None, 'all', an int, or a tuple of ints for a mix of several classes or
    attributes (`1,2`: c has a 1 at each); validated against c_dim later."""
    if text is None or text == "":
        return None
    if str(text).strip().lower() == "all":
        return "all"
    try:
        indices = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise UserError(
            f"--class: {text!r} is not a class index, a list of indices (1,2) or 'all'"
        ) from None
    if len(set(indices)) != len(indices):
        raise UserError(f"--class {text}: an index is given twice")
    return indices[0] if len(indices) == 1 else indices


def parse_attrs(text, G):
    """--attrs a,b (names from the network's label_names, or indices), or 'none' (no attribute
    set) -> tuple of column indices of c."""
    if G.c_dim == 0:
        raise UserError(f"--attrs {text}: the network is unconditional (c_dim = 0)")
    if str(text).strip().lower() == "none":
        return ()
    names = list(getattr(G, "label_names", None) or [])
    out = []
    for item in (v.strip() for v in str(text).split(",")):
        if item in names:
            out.append(names.index(item))
        elif item.isdigit():
            out.append(int(item))
        else:
            known = (
                f"the network's attributes are {', '.join(names)}"
                if names
                else ("the network has no attribute names; give indices")
            )
            raise UserError(f"--attrs: unknown attribute {item!r} ({known})")
    if len(set(out)) != len(out):
        raise UserError(f"--attrs {text}: an attribute is given twice")
    return tuple(out)


# --precision of every command; the same names as tf_stylegan2.networks.precision.CHOICES (tested).
PRECISIONS = ["fp32", "bf16", "fp16", "fp64", "auto"]
PRECISION_HELP = (
    "Compute precision: fp32 (default, exact parity), bf16 or fp16 in the top num_fp16_res "
    "resolutions, fp64, or auto (fp16 on GPUs, bf16 on CPUs with native bfloat16, else fp32)."
)

ATTRS_HELP = (
    "Attributes of a multi-hot network by name (the dataset's, e.g. smiling,eyeglasses) or "
    "index; 'none' for none set."
)


def class_or_attrs(G, class_arg, attrs_text):
    """The labels choice of --class (already parsed) and --attrs (text) against G: one of them, or
    neither for an unconditional network."""
    if attrs_text is None:
        return class_arg
    if class_arg is not None:
        raise UserError("give either --class or --attrs, not both")
    return parse_attrs(attrs_text, G)


def make_outdir(path):
    p = pathlib.Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path}: cannot create the output folder ({e.strerror})") from None
    return p
