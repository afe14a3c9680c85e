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
    from conftest import invoke_cli as run_cli  # in this process: the command's message, not a fresh process

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
    from conftest import invoke_cli as run_cli  # in this process: the command's message, not a fresh process

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


BOARD = {"name": "my-f446re", "flash_origin": "0x08000000", "flash_bytes": 512 * 1024,
         "ram_origin": "0x20000000", "ram_bytes": 128 * 1024}


@pytest.mark.parametrize("change, msg", [
    ({"name": "x\nall: evil"}, r"name 'x\\nall: evil' cannot name a board"),  # it goes into the Makefile
    ({"name": "mps2-an386"}, "'mps2-an386' is taken by a built-in board"),
    ({"name": "cortex-m4"}, "'cortex-m4' is taken"),  # the folder firmware/cortex-m4/ is the QEMU board's
    ({"ram_bytes": True}, "ram_bytes must be an integer"),
    ({"flash_bytes": 1.5}, "flash_bytes must be an integer"),
    ({"ram_origin": "0x08010000"}, "overlap"),
    ({"flash_origin": "0x08000004"}, "flash_origin 0x8000004 of board my-f446re is not a multiple of 128"),
    ({"ram_origin": "0x20000002"}, "ram_origin 0x20000002 of board my-f446re is not a multiple of 8"),
    ({"flash_origin": "0xFFFF0000"}, "leaves the 32-bit address space"),
    ({"uart_base": "0x40004001"}, "uart_base 0x40004001 of board my-f446re is not a 4-byte aligned"),
])
def test_board_fields_are_checked_when_the_config_loads(change, msg):
    """Names that break the generated Makefile or shadow a built-in board, and memory maps that cannot link
    or boot, used to pass the config and fail (or silently misbehave) after training."""
    assert BuildConfig(target="cortex-m4", board=BOARD).board == BOARD
    with pytest.raises(ConfigError, match=msg):
        BuildConfig(target="cortex-m4", board={**BOARD, **change})


def test_verify_qemu_with_a_custom_board_is_refused_when_the_config_loads(tmp_path):
    """--verify qemu on a [build.board] used to train first and then fail: no QEMU machine runs that board."""
    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\ntarget = "cortex-m4"\nverify = "qemu"\n[build.board]\nname = "my-f446re"\n'
                 'flash_origin = "0x08000000"\nflash_bytes = 524288\nram_origin = "0x20000000"\nram_bytes = 131072\n')
    with pytest.raises(ConfigError, match=r"--verify qemu cannot run the firmware of board my-f446re.*"
                                          r"--device serial:PORT"):
        load_config(f)
    assert load_config(f, verify="host").board["name"] == "my-f446re"


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("3m", 180), ("1h30m", 5400), ("2.5m", 150), ("1m 30s", 90),
                                           ("45", 45), (45, 45), (0.5, 0.5), ("none", None), ("OFF", None)])
def test_time_budget_takes_durations(text, seconds):
    assert BuildConfig(time_budget=text).time_budget_seconds == seconds


@pytest.mark.parametrize("text", ["3x", "soon", "", "m", "0", "-5", "0s", "30s2m", "1m1m", "inf", True, [90]])
def test_bad_time_budget_names_the_option(text):
    with pytest.raises(ConfigError, match=r"--time-budget .* (is not a duration|must be a positive duration).*90s, 3m"):
        BuildConfig(time_budget=text)


def test_time_budget_and_max_steps_from_the_file(tmp_path):
    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\ntarget = "cortex-m"\ntime_budget = "90s"\nmax-steps = 500\n')
    cfg = load_config(f)
    assert cfg.time_budget_seconds == 90 and cfg.max_steps == 500
    assert load_config(f, time_budget="none").time_budget_seconds is None  # the flag wins
    with pytest.raises(ConfigError, match="--max-steps must be a positive integer"):
        load_config(f, max_steps=0)


def test_cli_refuses_a_bad_time_budget_in_one_line(tmp_path):
    from conftest import invoke_cli as run_cli  # in this process: the command's message, not a fresh process

    r = run_cli("build", "--target", "cortex-m", "--time-budget", "soon", "--out", tmp_path / "out")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "edgecnn: error: --time-budget 'soon' is not a duration (give a duration such as 90s, 3m or 1h30m, a number "
        "of seconds, or none for no limit)"]
    assert not (tmp_path / "out").exists()


def test_data_set_defaults_to_digits_except_for_a_tflite(tmp_path):
    """A .tflite made elsewhere gets random golden inputs instead of digits (whose 8x8 images rarely fit it)."""
    assert BuildConfig().dataset == "digits" and BuildConfig(from_model="m.keras").dataset == "digits"
    cfg = BuildConfig(from_model="zoo/kws.tflite")
    assert cfg.dataset is None and cfg.from_tflite and cfg.out_dir.as_posix() == "build/kws"
    assert BuildConfig(from_model="kws.tflite", dataset="digits").dataset == "digits"  # explicit: kept
    f = tmp_path / "edgecnn.toml"
    f.write_text('[build]\ntarget = "cortex-m4"\nfrom_model = "kws.tflite"\ninputs = "x.npy"\n')
    assert load_config(f).inputs == "x.npy" and load_config(f).dataset is None
    with pytest.raises(ConfigError, match="--inputs gives the golden inputs of a --from-model FILE.tflite"):
        BuildConfig(inputs="x.npy")
    with pytest.raises(ConfigError, match="--inputs x.npy and --dataset shapes both give the golden inputs"):
        BuildConfig(from_model="kws.tflite", inputs="x.npy", dataset="shapes")
