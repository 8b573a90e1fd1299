"""jsontext reads JSON of any depth as Python's decoder reads shallow JSON, and says what
Jackson says where the two disagree."""

from __future__ import annotations

import json
import random

import pytest

from lambox import jsontext
from lambox.jsontext import NonStandard, TooDeep

PIECES = [
    "[", "]", "{", "}", ",", ":", '"a"', "1", "-2.5e3", "0.5", "true", "false", "null",
    " ", "\n", '"\\u00e9"', '"\\ud83d\\ude00"', "[]", "{}", '"k":', "x", "01", "-", '"',
]  # fmt: skip


def outcome(read: object, text: str) -> tuple[str, object]:
    try:
        return "ok", read(text)  # type: ignore[operator]
    except ValueError:
        return "error", None


def checked_without_c(text: str) -> None:
    """The validating reader on its own, the C decoder never tried for a value."""
    reader = jsontext._Builder(text, None, build=False)
    reader.too_deep_at = 0
    reader.run()


def built_without_c(text: str) -> object:
    """The building reader on its own, the C decoder never tried for a value."""
    reader = jsontext._Builder(text, None)
    reader.too_deep_at = 0
    return reader.run()


def test_the_stack_reader_agrees_with_pythons_decoder_on_random_text() -> None:
    """Short random texts, shallow enough for the C decoder: same value or both refuse."""
    rnd = random.Random(7)
    for _ in range(20_000):
        text = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 12)))
        expected = outcome(json.loads, text)
        built = outcome(built_without_c, text)
        checked = outcome(checked_without_c, text)
        assert repr(built) == repr(expected), text
        assert checked[0] == expected[0], text


@pytest.mark.parametrize("depth", [10_000, 1_000_000])
def test_check_takes_any_depth(depth: int) -> None:
    jsontext.check("[" * depth + "]" * depth)
    jsontext.check('{"a":' * depth + "[1, {}]" + "}" * depth)


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 4999, "[" * 5000, "[" * 5000 + "]" * 5001, "[" * 3000 + "{]" + "]" * 3000,
     "[" * 3000 + "1 2" + "]" * 3000, '{"a":' * 3000 + "}" * 3000],
)  # fmt: skip
def test_check_refuses_deep_malformed_text(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        jsontext.check(text)


def test_loads_builds_what_the_decoder_would_at_depths_it_cannot_reach() -> None:
    value = jsontext.loads('{"k": ' + "[" * 998 + '"x", {"y": 2.5}' + "]" * 998 + "}")["k"]
    for _ in range(997):
        (value,) = value
    assert value == ["x", {"y": 2.5}]


def test_loads_stops_past_jacksons_depth_in_its_words() -> None:
    with pytest.raises(TooDeep) as raised:
        jsontext.loads("[" * 100_000)
    assert str(raised.value) == (
        "Document nesting depth (1001) exceeds the maximum allowed (1000, from"
        " `StreamReadConstraints.getMaxNestingDepth()`)"
    )
    assert jsontext.loads("[" * 1000 + "]" * 1000) is not None


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_loads_refuses_what_jackson_does_not_read(text: str) -> None:
    with pytest.raises(NonStandard):
        jsontext.loads(text)
    with pytest.raises(NonStandard):
        jsontext._Builder("[" * 2000 + text + "]" * 2000, None, standard=True).run()


def test_lone_surrogates_are_found_and_pairs_are_text() -> None:
    decoded = json.loads('{"\\udc80k": ["a", "\\ud83d\\ude00"], "b": "c\\ud800"}')
    found = [jsontext.lone_surrogate(s) for s in jsontext.strings(decoded)]
    assert sorted(f for f in found if f) == ["\ud800", "\udc80"]
    assert jsontext.lone_surrogate("\U0001f600 plain") is None


@pytest.mark.parametrize(
    ("inner", "valid"),
    [
        ("[" + ",".join(["[]", "{}", '"a\\u00e9"', "-1.5e3", "null"] * 2000) + "]", True),
        ("{" + ",".join(f'"k{i}": [], "n{i}": 1' for i in range(2000)) + "}", True),
        ("[" + ",".join(["1"] * 2000) + ",01]", False),
        ("[" + ",".join(["1"] * 2000) + ",]", False),
        ("{" + ",".join(f'"k{i}": 1' for i in range(2000)) + ', "x"}', False),
        ("[" + ",".join(['"\x01"'] * 3) + "]", False),
    ],
)
def test_wide_containers_deep_down_are_checked_element_by_element(inner: str, valid: bool) -> None:
    assert outcome(json.loads, inner)[0] == ("ok" if valid else "error")
    deep = "[" * 3000 + inner + "]" * 3000
    assert outcome(jsontext.check, deep)[0] == ("ok" if valid else "error")


def test_the_stack_reader_agrees_on_random_documents_with_one_character_broken() -> None:
    rnd = random.Random(3)

    def document(depth: int) -> object:
        roll = rnd.random()
        if depth > 40 or roll < 0.3:
            return rnd.choice([1, -2.5, "s", "{[]}", True, None, "\u00e9", 0, 1e10, 'a"b'])
        if roll < 0.65:
            return [document(depth + 1) for _ in range(rnd.choice([0, 1, 1, 2, 3]))]
        keys = ["a", "{b", "[", "k:"]
        return {rnd.choice(keys): document(depth + 1) for _ in range(rnd.choice([0, 1, 2, 3]))}

    for _ in range(5_000):
        text = json.dumps(document(0), indent=rnd.choice([None, 1]))
        if rnd.random() < 0.6:
            at, char = rnd.randrange(len(text)), rnd.choice('[]{},:" 1x')
            text = rnd.choice([text[:at] + char + text[at + 1 :], text[:at] + text[at + 1 :]])
        expected = outcome(json.loads, text)[0]
        assert outcome(checked_without_c, text)[0] == expected, text
        assert outcome(built_without_c, text)[0] == expected, text


@pytest.mark.parametrize(
    "text",
    [
        '{"a":[1,2.5,null,true]}',
        ' {"a": 1} ',
        '{"a": 1}\n',
        "\t[]",
        '"x"',
        "NaN",
        "",
        " ",
        "{}x",
        "{} {}",
        '{"a": }',
        "[1,]",
        "01",
    ],
)
def test_decoded_reads_and_refuses_as_json_loads_does(text: str) -> None:
    try:
        wanted: object = json.loads(text)
    except json.JSONDecodeError as exc:
        with pytest.raises(json.JSONDecodeError) as got:
            jsontext.decoded(text)
        assert (got.value.msg, got.value.pos) == (exc.msg, exc.pos)
        return
    assert repr(jsontext.decoded(text)) == repr(wanted)
