"""The frozen build config: defaults, TOML file, flags on top, and clear errors for bad options."""
import pytest

from toolkit.config import BuildConfig, load_config
from toolkit.errors import ConfigError


def test_flags_override_file(tmp_path):
    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\ntarget = "cortex-m7"\nconv = "depthwise"\nepochs = 5\n')
    cfg = load_config(f, epochs=7, conv=None, target=None)
    assert cfg.conv == "depthwise" and cfg.epochs == 7 and cfg.target == "cortex-m7"
    assert load_config(f, target="host").target == "host"


def test_target_is_required_from_a_flag_or_the_file(tmp_path):
    f = tmp_path / "edgecnn.toml"
    f.write_text("[build]\nepochs = 5\n")
    with pytest.raises(ConfigError, match=r"--target is missing: give --target or `target = \.\.\.` in"):
        load_config(f, target=None)
    with pytest.raises(ConfigError, match="--target is missing"):
        load_config(None, target=None)


def test_cli_takes_the_target_from_the_config_file(tmp_path):
    """`edgecnn build --config edgecnn.toml` with `target` in the file used to fail: Missing option '--target'."""
    from conftest import run_cli

    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\ntarget = "cortex-m99"\n')
    r = run_cli("build", "--config", f, "--out", tmp_path / "out")
    # the file's target reached the pipeline (which names it), instead of click refusing the command line
    assert r.returncode != 0 and "unknown target 'cortex-m99'" in r.stderr, r.stderr
    f.write_text("[build]\nepochs = 1\n")
    r = run_cli("build", "--config", f, "--out", tmp_path / "out")
    assert r.returncode != 0 and "--target is missing" in r.stderr and "Traceback" not in r.stderr


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "edgecnn.toml"
    f.write_text("epoch = 5\n")
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        load_config(f, target="cortex-m")


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
