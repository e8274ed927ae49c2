"""Local files an image takes along: which files, where they go, and their content hashes.

A :class:`FileSource` names a local file or directory and where its files go inside the
layer's part of the build context. Listing it (:meth:`FileSource.entries`) walks the files,
applies the ``ignore`` rule and, when asked, hashes each file's content: the hashes go into the
layer's identity, so an edited file changes the image while a moved project does not.

``ignore`` follows Modal: a list of dockerignore-style patterns (``*.pyc``, ``**/data``,
``!keep.txt``) or a callable given each file's path *relative to the directory added*.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strato.exception import InvalidError

#: One file to take along: (absolute source path, destination relative to the layer's
#: context, sha256 of its content or None when not hashed, permission bits).
Entry = tuple[str, str, str | None, int]


class FilePatternMatcher:
    """Dockerignore-style patterns as a predicate: ``matcher(path)`` is True for an ignored
    path (relative to the directory being added). ``~matcher`` inverts it."""

    def __init__(self, *patterns: str) -> None:
        self.patterns: list[str] = []
        self._rules: list[tuple[bool, re.Pattern[str]]] = []
        self._inverted = False
        for pattern in patterns:
            if not isinstance(pattern, str):
                raise InvalidError(f"ignore patterns must be str, got {type(pattern).__name__}")
            text = pattern.strip()
            if not text or text.startswith("#"):
                continue
            negated = text.startswith("!")
            body = text[1:] if negated else text
            body = os.path.normpath(body.strip("/")).replace(os.sep, "/")
            self.patterns.append(text)
            self._rules.append((negated, _translate(body)))

    @classmethod
    def from_file(cls, path: str | Path) -> FilePatternMatcher:
        """The patterns of an ignore file, one per line."""
        return cls(*Path(path).read_text().splitlines())

    def __invert__(self) -> FilePatternMatcher:
        inverted = FilePatternMatcher()
        inverted.patterns, inverted._rules = self.patterns, self._rules
        inverted._inverted = not self._inverted
        return inverted

    def __call__(self, path: Path) -> bool:
        return self._matches(Path(path).as_posix()) != self._inverted

    def _matches(self, rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        ignored = False
        for negated, rule in self._rules:
            # a pattern that matches a parent directory matches everything under it
            if any(rule.fullmatch(prefix) for prefix in prefixes):
                ignored = not negated
        return ignored

    def can_prune(self) -> bool:
        """Whether a directory it ignores can be skipped whole (nothing inside is re-included)."""
        return not self._inverted and not any(negated for negated, _ in self._rules)

    def __repr__(self) -> str:
        inner = ", ".join(repr(p) for p in self.patterns)
        return f"{'~' if self._inverted else ''}FilePatternMatcher({inner})"


def _translate(pattern: str) -> re.Pattern[str]:
    """A dockerignore pattern as a regular expression over '/'-separated relative paths."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def _not_python(path: Path) -> bool:
    return path.suffix != ".py"


#: The default ``ignore`` of ``add_local_python_source``: everything but ``.py`` files.
NON_PYTHON_FILES: Callable[[Path], bool] = _not_python


def as_ignore(ignore: Any, argument: str = "ignore") -> Callable[[Path], bool] | None:
    """Normalize an ``ignore`` argument: patterns become a matcher, a callable stays."""
    if ignore is None:
        return None
    if isinstance(ignore, str):
        return FilePatternMatcher(ignore)
    if callable(ignore):
        return ignore  # type: ignore[no-any-return]
    if isinstance(ignore, Sequence):
        return FilePatternMatcher(*ignore) if ignore else None
    raise InvalidError(
        f"`{argument}` must be a list of patterns or a callable taking a Path, "
        f"got {type(ignore).__name__}"
    )


def hash_file(path: str | Path) -> str:
    """The sha256 of a file's content, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _always_skipped(name: str, python_only: bool) -> bool:
    return python_only and (name.startswith(".") or name == "__pycache__" or name.endswith(".pyc"))


@dataclass(frozen=True)
class FileSource:
    """A local file or directory and where its files go in the layer's context."""

    local_path: str
    #: destination relative to the layer's context: a file name, or a folder ("" = the root)
    dest: str
    ignore: Callable[[Path], bool] | None = field(default=None, compare=False)
    #: add_local_python_source: skip dot-files, ``__pycache__`` and ``.pyc`` always
    python_only: bool = False
    #: where this source sits below the folder ``ignore`` patterns are relative to
    ignore_prefix: str = ""

    def entries(self, hashed: bool) -> list[Entry]:
        """The files, in a stable order, hashed when ``hashed``."""
        root = Path(self.local_path)
        if root.is_file():
            return [_entry(root, self.dest or root.name, hashed)]
        if not root.is_dir():
            raise InvalidError(f"local path {self.local_path} does not exist")
        return [
            _entry(root / rel, f"{self.dest}/{rel}" if self.dest else rel, hashed)
            for rel in self._walk(root)
        ]

    def _walk(self, root: Path) -> Iterator[str]:
        ignore = self.ignore
        prune = isinstance(ignore, FilePatternMatcher) and ignore.can_prune()
        prefix = Path(self.ignore_prefix)
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
            kept = []
            for name in sorted(dirnames):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if _always_skipped(name, self.python_only):
                    continue
                if prune and ignore is not None and ignore(prefix / rel):
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in filenames:
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if _always_skipped(name, self.python_only):
                    continue
                if ignore is not None and ignore(prefix / rel):
                    continue
                if os.path.isfile(os.path.join(dirpath, name)):
                    found.append(rel)
        return iter(sorted(found))


#: (path, inode, size, mtime) -> sha256: an unchanged file is hashed once per process
_HASHES: dict[tuple[str, int, int, int], str] = {}


def _entry(path: Path, dest: str, hashed: bool) -> Entry:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode) & 0o755 | 0o644
    resolved = str(path.resolve())
    sha = None
    if hashed:
        key = (resolved, info.st_ino, info.st_size, info.st_mtime_ns)
        sha = _HASHES.get(key)
        if sha is None:
            sha = _HASHES[key] = hash_file(path)
    return (resolved, dest, sha, mode)


def python_module_sources(name: str, ignore: Callable[[Path], bool] | None) -> list[FileSource]:
    """Where a locally importable module or package lives, as sources for ``dest`` paths that
    make it importable from the folder they are put in."""
    if not isinstance(name, str) or not name.replace(".", "").replace("_", "").isalnum():
        raise InvalidError(f"add_local_python_source() takes module names, got {name!r}")
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise InvalidError(
            f"add_local_python_source(): cannot find module {name!r}: {exc}"
        ) from exc
    if spec is None:
        raise InvalidError(
            f"add_local_python_source(): no module named {name!r} is importable here"
        )
    dest = name.replace(".", "/")
    locations = list(spec.submodule_search_locations or [])
    if locations:  # a package (namespace packages have several folders)
        return [FileSource(loc, dest, ignore, python_only=True) for loc in locations]
    if spec.origin is None or not os.path.isfile(spec.origin):
        raise InvalidError(
            f"add_local_python_source(): {name!r} has no source file here (built-in or frozen)"
        )
    if not spec.origin.endswith(".py"):
        raise InvalidError(
            f"add_local_python_source(): {name!r} is not pure Python ({spec.origin}); install "
            "it with pip_install instead"
        )
    return [FileSource(spec.origin, dest + ".py", None, python_only=True)]
