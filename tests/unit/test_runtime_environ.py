"""The one-pass environment of a zygote's sandbox (``environ.replace``): every view of the
environment holds exactly what ``os.environ.update`` would have left, with its errors."""

from __future__ import annotations

from tests.unit.fresh_interpreter import run


def test_replace_leaves_exactly_the_new_environment_in_every_view() -> None:
    answer = run(
        """
        import ctypes, json, os
        from lambox.runtime import environ
        environ.replace({"B": "2", "A": "1", "EMPTY": "", "U": "\\u00e9"})
        entries = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
        c, i = [], 0
        while entries[i] is not None:
            c.append(entries[i].decode()); i += 1
        print(json.dumps([list(os.environ.items()),
                          {k.decode(): v.decode() for k, v in os.environb.items()},
                          sorted(c), os.getenv("U")]))
        """,
        {"OLD": "gone", "KEEP": "no"},
    )
    expected = {"B": "2", "A": "1", "EMPTY": "", "U": "\u00e9"}
    assert answer == [
        [list(item) for item in expected.items()],
        expected,
        sorted(f"{k}={v}" for k, v in expected.items()),
        "\u00e9",
    ]


def test_replace_refuses_what_os_environ_refuses() -> None:
    answer = run(
        """
        import json, os
        from lambox.runtime import environ
        out = []
        for bad in ({"A=B": "1"}, {"A": "x\\0y"}, {"": "1"}, {"A": 1}):
            errors = []
            for install in (environ.replace, os.environ.update):
                try:
                    install(bad)
                    errors.append(None)
                except Exception as e:
                    errors.append([type(e).__name__, str(e)])
            out.append(errors)
        print(json.dumps(out))
        """
    )
    assert isinstance(answer, list) and len(answer) == 4
    for ours, theirs in answer:
        assert ours == theirs and ours is not None
