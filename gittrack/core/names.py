"""The grammar of run refs, experiment names and record keys: format, parse, validate. No I/O.

git refuses many characters in ref names (space, ``~^:?*[\\``, ``..``, ``@{``, a leading
``.``, a ``.lock`` suffix; see git-check-ref-format(1)). Experiment names are free text for
people, so they are percent-encoded into exactly one ref component; the real name is kept in
the run record. Keys of params, metrics and tags follow MLflow's rule, because they become
file paths in the run tree (``metrics/<key>.tsv``).
"""

from __future__ import annotations

import os
import random
import re

from gittrack.core.errors import InvalidInputError

RUNS_PREFIX = "refs/gittrack/runs/"
TRASH_PREFIX = "refs/gittrack/trash/"
EMPTIED_PREFIX = "refs/gittrack/emptied/"  # runs gc emptied from the trash (a record, no run)
EMPTIED_RECORD = ".gittrack/trash/emptied.yaml"
ARCHIVE_PREFIX = "refs/gittrack/archive/"  # finished runs folded into one ref per experiment
RECORD_DIR = ".gittrack/run"

MAX_NAME = 250
MAX_KEY = 250
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
# Matched with fullmatch: a `$` also matches before a trailing newline ("loss\n"), which
# would end up in the journal's line format and in file names of the run tree.
_KEY_RE = re.compile(r"[A-Za-z0-9_\-. /:]+")
_ID_RE = re.compile(r"[0-9a-f]{16}")


def new_run_id() -> str:
    """A random 64-bit id in hex: unique across clones without coordination."""
    return os.urandom(8).hex()


def is_run_id(text: str) -> bool:
    return isinstance(text, str) and _ID_RE.fullmatch(text) is not None


def encode_component(name: str) -> str:
    """Percent-encode ``name`` into one safe git ref component (reversible)."""
    out = []
    for ch in name:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    text = "".join(out)
    # git forbids a leading '.', '..' anywhere and a '.lock' suffix: encode those dots too.
    if text.startswith("."):
        text = "%2E" + text[1:]
    text = text.replace("..", ".%2E")
    if text.endswith(".lock"):
        text = text[: -len(".lock")] + "%2Elock"
    return text


def decode_component(text: str) -> str:
    """Inverse of :func:`encode_component`."""
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%" and _is_hex(text[i + 1 : i + 3]):
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(text[i].encode("utf-8", "surrogatepass"))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{text!r} is not a percent-encoded UTF-8 name.") from None


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)


def validate_name(kind: str, name: object) -> str:
    """Check an experiment or run name: free text on one line, 1..250 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"The {kind} name must be a non-empty string; got {name!r}.")
    if len(name) > MAX_NAME:
        raise InvalidInputError(
            f"The {kind} name is {len(name)} characters long; the limit is {MAX_NAME}."
        )
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise InvalidInputError(
            f"The {kind} name {name!r} contains a control character or newline; use one line of text."
        )
    if name != name.strip():
        raise InvalidInputError(
            f"The {kind} name {name!r} starts or ends with white space; remove it."
        )
    check_text(f"The {kind} name", name)
    return name


def check_text(what: str, text: str) -> str:
    """Refuse text that UTF-8 cannot store: a lone surrogate (``\\ud800``, or ``\\udcff``
    that Python makes of an undecodable byte), which no YAML or JSON file can hold as text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise InvalidInputError(
            f"{what} holds {bad!r} at position {exc.start}, a lone surrogate that UTF-8 cannot "
            "store; pass valid text (decode bytes with errors='replace')."
        ) from None
    return text


def validate_key(kind: str, key: object) -> str:
    """Check a param, metric or tag key (MLflow's rule, and no empty, '.' or '..' path part)."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"A {kind} key must be a non-empty string; got {key!r}.")
    if len(key) > MAX_KEY:
        raise InvalidInputError(
            f"The {kind} key {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_KEY}."
        )
    if not _KEY_RE.fullmatch(key):
        raise InvalidInputError(
            f"The {kind} key {key!r} has a character gittrack cannot store; use letters, digits, "
            "'_', '-', '.', ' ', ':' and '/'."
        )
    parts = key.split("/")
    if any(p.strip() in ("", ".", "..") for p in parts):
        raise InvalidInputError(
            f"The {kind} key {key!r} has an empty, '.' or '..' part between slashes; "
            "use names like 'train/loss'."
        )
    # Metric keys become paths of the run tree (metrics/<key>.tsv): git refuses a directory
    # named .git in any spelling a file system may fold to it, and a directory 'x.tsv'
    # would collide with the file of the metric 'x'.
    if any(p.lower().rstrip(" .") in (".git", "git~1") for p in parts):
        raise InvalidInputError(
            f"The {kind} key {key!r} has a part git reserves ('.git'); choose another name."
        )
    if kind == "metric" and any(p.endswith(".tsv") for p in parts[:-1]):
        raise InvalidInputError(
            f"The metric key {key!r} has a part ending in '.tsv' before a '/', which would "
            "clash with a metric's history file; choose another name."
        )
    return key


def run_ref(experiment: str, run_id: str, prefix: str = RUNS_PREFIX) -> str:
    """The ref of a run: ``refs/gittrack/runs/<encoded experiment>/<run id>``."""
    return f"{prefix}{encode_component(experiment)}/{run_id}"


def experiment_ref_prefix(experiment: str, prefix: str = RUNS_PREFIX) -> str:
    return f"{prefix}{encode_component(experiment)}/"


def parse_run_ref(ref: str, prefix: str = RUNS_PREFIX) -> tuple[str, str] | None:
    """``(experiment, run_id)`` of a run ref, or None when ``ref`` is not one."""
    if not ref.startswith(prefix):
        return None
    rest = ref[len(prefix) :]
    exp, sep, run_id = rest.rpartition("/")
    if not sep or "/" in exp or not is_run_id(run_id):
        return None
    try:
        return decode_component(exp), run_id
    except InvalidInputError:
        return None  # a ref gittrack did not write


_ADJECTIVES = (
    "able amber bold brave brisk calm clever crisp dapper eager fair fancy fleet gentle glad "
    "grand happy hardy jolly keen kind lively lucky merry mighty neat noble polite proud quick "
    "quiet rapid sharp shiny silent sleek smart snappy solid spry steady sunny swift tidy vivid "
    "warm wise witty zesty"
).split()
_NOUNS = (
    "ant bat bear bee bison boar carp cat colt crab crow deer dove duck eagle eel elk finch "
    "fox frog goat gull hare hawk heron ibis jay koala lamb lark lion lynx mole moth newt owl "
    "panda pike puma quail ram raven robin seal shark slug snail swan tiger toad trout wasp "
    "whale wolf wren yak zebra"
).split()


def generate_run_name(rng: random.Random | None = None) -> str:
    """A human name such as ``brisk-lamb-417``."""
    r = rng or random.SystemRandom()
    return f"{r.choice(_ADJECTIVES)}-{r.choice(_NOUNS)}-{r.randrange(1000):03d}"
