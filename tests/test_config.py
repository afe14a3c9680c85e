"""The frozen build config: defaults, TOML file, flags on top, and clear errors for bad options."""
import pytest

from toolkit.config import BuildConfig, load_config
from toolkit.errors import ConfigError


def test_flags_override_file(tmp_path):
    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\nconv = "depthwise"\nepochs = 5\n')
    cfg = load_config(f, epochs=7, conv=None)
    assert cfg.conv == "depthwise" and cfg.epochs == 7


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "edgecnn.toml"
    f.write_text("epoch = 5\n")
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        load_config(f)


@pytest.mark.parametrize("kw, msg", [({"epochs": 0}, "--epochs"), ({"epochs": -3}, "--epochs"),
                                     ({"conv": "wide"}, "--conv"), ({"verify": "board"}, "--verify"),
                                     ({"width": 0.0}, "--width"), ({"groups": 0}, "--groups"),
                                     ({"shuffle": True}, "--shuffle")])
def test_bad_values(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        BuildConfig(**kw)


def test_config_is_frozen():
    with pytest.raises(Exception):
        BuildConfig().epochs = 3
