"""Every setting is documented, and the environment maps onto settings as documented."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from lambox.config import PREFIX, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    for f in fields(Settings):
        assert f"`{PREFIX}{f.name.upper()}`" in text, f.name
        assert f.metadata.get("doc"), f.name


def test_environment_overrides_and_flags_win() -> None:
    s = Settings.from_env(
        {
            "LAMBOX_PORT": "9100",
            "LAMBOX_KEEP_ALIVE": "2.5",
            "LAMBOX_DATA_DIR": "/x",
            "LAMBOX_RUNTIME_MAP": "python3.12=python3.11, python3.13=python3.11",
        },
        port=9200,
        host=None,
    )
    assert s.port == 9200
    assert s.host == "127.0.0.1"
    assert s.keep_alive == 2.5
    assert s.data_dir == Path("/x")
    assert dict(s.runtime_map) == {"python3.12": "python3.11", "python3.13": "python3.11"}
    assert s.base_url == "http://127.0.0.1:9200"


def test_every_setting_can_be_read_from_the_environment() -> None:
    defaults = Settings()
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        text = (
            ",".join(f"{k}={v}" for k, v in value.items())
            if f.name == "runtime_map"
            else str(value)
        )
        assert getattr(Settings.from_env({PREFIX + f.name.upper(): text}), f.name) == value


def test_a_malformed_number_names_its_variable() -> None:
    with pytest.raises(ValueError, match=r"LAMBOX_SANDBOX_LIMIT='many' is not a valid int"):
        Settings.from_env({"LAMBOX_SANDBOX_LIMIT": "many"})
