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


def test_board_table_is_checked_before_the_first_stage(tmp_path):
    """[build.board] used to be checked only after training."""
    from conftest import run_cli

    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\ntarget = "cortex-m4"\n[build.board]\nname = "mine"\nflash_origin = "0x08000000"\n'
                 'flash_bytes = 524288\nram_origin = "0x20000000"\n')
    with pytest.raises(ConfigError, match=r"custom board \(\[build.board\]\) needs ram_bytes"):
        load_config(f)
    r = run_cli("build", "--config", f, "--out", tmp_path / "out")
    assert r.returncode != 0 and "needs ram_bytes" in r.stderr and "dataset" not in r.stdout, r.stdout + r.stderr
    f.write_text('[build]\ntarget = "host"\n[build.board]\nflash_origin = 0\nflash_bytes = 1\nram_origin = 0\n'
                 'ram_bytes = 1\n')
    with pytest.raises(ConfigError, match="not a Cortex-M target"):
        load_config(f)
    f.write_text('[build]\ntarget = "cortex-m7"\n[build.board]\nname = "nucleo-h743"\nflash_origin = "0x08000000"\n'
                 'flash_bytes = "0x200000"\nram_origin = "0x24000000"\nram_bytes = 524288\nclock = 4\n')
    with pytest.raises(ConfigError, match=r"unknown \[build.board\] option\(s\) clock"):
        load_config(f)
