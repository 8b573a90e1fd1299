"""The compiled methods of dataclasses, remembered from one start to the next: the classes
made from remembered code are the classes ``dataclasses`` makes without it."""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import sys
from pathlib import Path
from typing import Any

import pytest

from lambox import class_cache


def make_classes() -> tuple[type[Any], type[Any]]:
    @dataclasses.dataclass(frozen=True)
    class Point:
        """A frozen one: __setattr__, __delattr__ and __hash__ generated too."""

        x: int
        y: int = 0
        tags: tuple[str, ...] = ()

    @dataclasses.dataclass(slots=True)
    class Box:
        """A mutable one with a default factory."""

        name: str
        items: list[int] = dataclasses.field(default_factory=list)

    return Point, Box


def behaviour(point: type[Any], box: type[Any]) -> dict[str, Any]:
    p, q = point(1, 2), point(1, 2)
    b = box("b")
    b.items.append(3)
    try:
        p.x = 5
        frozen = "assigned"
    except dataclasses.FrozenInstanceError as exc:
        frozen = str(exc)
    return {
        "repr": (repr(p), repr(b)),
        "eq": (p == q, p == point(2), b == box("b", [3])),
        "hash": hash(p) == hash(q),
        "frozen": frozen,
        "fresh": box("c").items is not box("c").items,
        "init": str(inspect.signature(point.__init__)),
        "annotations": {k: str(v) for k, v in point.__init__.__annotations__.items()},
    }


def made_counting_compiles(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], dict[str, Any]]:
    """The classes' behaviour, made while remembering ``path``, and the methods compiled."""
    real_compile = builtins.compile
    compiled: list[str] = []

    def counted(source: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(source, str) and source.startswith("def __create_fn__("):
            compiled.append(source)
        return real_compile(source, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(builtins, "compile", counted)
        with class_cache.remembering(path):
            found = behaviour(*make_classes())
    return compiled, found


def test_classes_made_from_remembered_code_behave_as_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "__pycache__" / "methods.marshal"
    expected = behaviour(*make_classes())
    with class_cache.remembering(path):
        first = behaviour(*make_classes())
    assert path.exists()
    assert "exec" not in vars(dataclasses)
    # The next time, nothing is compiled: every method comes from the file.
    compiled, again = made_counting_compiles(path, monkeypatch)
    assert compiled == []
    assert first == again == expected
    # The field's annotation, not the generated code's variable ("_type_x", what compiling
    # with the __future__ flags of the module that compiles would give).
    assert expected["annotations"]["x"] == "int"


def test_a_broken_or_missing_cache_is_compiled_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    expected = behaviour(*make_classes())
    path = tmp_path / "methods.marshal"
    path.write_bytes(b"not marshal data")
    with class_cache.remembering(path):
        assert behaviour(*make_classes()) == expected
    with class_cache.remembering(path):
        assert behaviour(*make_classes()) == expected
    unwritable = tmp_path / "file" / "methods.marshal"
    (tmp_path / "file").write_text("a file, not a directory")
    with class_cache.remembering(unwritable):
        assert behaviour(*make_classes()) == expected
    assert "exec" not in vars(dataclasses)


def test_nothing_is_written_when_bytecode_is_not_but_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    path = tmp_path / "methods.marshal"
    with class_cache.remembering(path):
        make_classes()
    assert not path.exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    with class_cache.remembering(path):
        expected = behaviour(*make_classes())
    written = path.read_bytes()
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    path.chmod(0o444)  # as the bytecode of a read-only installation
    compiled, again = made_counting_compiles(path, monkeypatch)
    assert (compiled, again) == ([], expected)
    assert path.read_bytes() == written
