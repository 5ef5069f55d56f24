"""Credentials never reach a run: redaction of command lines and URLs before they are recorded.

A run record travels to every clone of the remote, forever (git history is hard to rewrite),
so what looks like a secret is replaced by ``***`` before it is written:

- the value of an option whose name says secret: ``--password=x``, ``--token x``,
  ``--api-key``, ``--secret``, ``--access-key``, ``--credentials``, ``--auth`` ...;
- ``NAME=value`` words whose NAME says secret (``AWS_SECRET_ACCESS_KEY=...``, as given to ``env``);
- the password of a URL (``https://user:pass@host``), a bare token as a URL's user
  (``https://ghp_xxx@github.com``), and secret query parameters (``?token=``, ``&sig=``).

Redaction works on whole argv words and inside longer strings (``bash -c '... --token x'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK = "***"
_SECRET_WORD = (r"(?:pass(?:word|wd|phrase)?|pwd|token|secret|api[-_]?key|apikey|access[-_]?key"
                r"|private[-_]?key|credentials?|auth(?:orization)?|session[-_]?key|sig(?:nature)?)")
# An option named like a secret: --password, --db-password, -token, --api_key ...
_OPTION = re.compile(rf"^--?(?:[\w.-]*[-_.])?{_SECRET_WORD}(?:[-_.][\w.-]*)?$", re.IGNORECASE)
# The same option with its value in one word, anywhere in a string.
_OPTION_VALUE = re.compile(
    rf"(?P<key>(?<![\w-])--?(?:[\w.-]*[-_.])?{_SECRET_WORD}(?:[-_.][\w.-]*)?)(?P<sep>=|\s+)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s'\"]+)", re.IGNORECASE)
_ASSIGN = re.compile(rf"(?P<key>(?<![\w-])[A-Za-z0-9_]*{_SECRET_WORD}(?:_[A-Za-z0-9_]*)?)="
                     r"(?P<value>[^\s'\"&]+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*)"
                           r"(?::(?P<password>[^/@\s]*))?@")
_QUERY = re.compile(rf"(?P<key>[?&;][\w.-]*{_SECRET_WORD}[\w.-]*|[?&;]X-Amz-[\w-]+)="
                    r"(?P<value>[^&#\s'\"]+)", re.IGNORECASE)
# What a token looks like as a URL's user name: GitHub/GitLab prefixes, or a long random word.
_TOKEN_USER = re.compile(r"^(?:gh[pousr]_|github_pat_|glpat-|x-access-token|oauth2)|^[A-Za-z0-9_\-]{32,}$")


def redact_url(url: str) -> str:
    """``url`` with its password, a token user name and secret query values replaced by ``***``."""
    def userinfo(m: re.Match[str]) -> str:
        user = m["user"]
        if m["password"] is not None:
            return f"{m['scheme']}{user}:{MASK}@"
        if _TOKEN_USER.search(user):
            return f"{m['scheme']}{MASK}@"
        return m.group(0)

    text = _URL_USERINFO.sub(userinfo, url)
    return _QUERY.sub(lambda m: f"{m['key']}={MASK}", text)


def redact_text(text: str) -> str:
    """Every secret-looking option value, assignment and URL credential in ``text`` masked."""
    text = redact_url(text)
    text = _OPTION_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)
    return _ASSIGN.sub(lambda m: f"{m['key']}={MASK}", text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secrets masked: ``--password x`` masks the next word too."""
    out: list[str] = []
    mask_next = False
    for word in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        if _OPTION.match(word):
            mask_next = True  # --token VALUE: the value is the next word
            out.append(word)
            continue
        out.append(redact_text(word))
    return out
