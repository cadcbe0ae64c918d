"""Training configuration: defaults, overrides, files, one-line errors, and the CLI around it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from keisei_fn.config import (
    ConfigError,
    schema as config_schema,
    default_yaml,
    from_yaml,
    load_config,
    to_yaml,
)

CLI = Path(sys.executable).with_name("keisei-fn")


def _one_line_error(overrides=(), path=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    msg = str(info.value)
    assert msg.strip() and "\n" not in msg.strip(), f"error message is not one line: {msg!r}"
    return msg


def test_defaults_load_and_match_schema_defaults():
    cfg = load_config()
    # The embedded YAML and the dataclass defaults are two copies of the same numbers.
    schema = OmegaConf.to_container(OmegaConf.structured(config_schema()))
    assert OmegaConf.to_container(cfg) == schema
    assert cfg.env.batch_size == 128 and cfg.ppo.gamma == 1.0 and cfg.model.arch == "resnet"
    assert list(cfg.optim.betas) == [0.9, 0.999]
    assert OmegaConf.is_readonly(cfg)


def test_default_yaml_has_every_schema_key():
    embedded = yaml.safe_load(default_yaml())
    schema = OmegaConf.to_container(OmegaConf.structured(config_schema()))

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(embedded) == keys(schema)


def test_overrides_apply():
    cfg = load_config(None, ["env.batch_size=8", "ppo.gamma=0.9", "model.arch=cnn",
                             "optim.betas=[0.8,0.9]", "eval.opponents=[greedy]", "seed=3"])
    assert cfg.env.batch_size == 8 and isinstance(cfg.env.batch_size, int)
    assert cfg.ppo.gamma == 0.9
    assert cfg.model.arch == "cnn"
    assert list(cfg.optim.betas) == [0.8, 0.9]
    assert list(cfg.eval.opponents) == ["greedy"]
    assert cfg.seed == 3
    # untouched keys keep their defaults
    assert cfg.env.max_plies == 256 and cfg.ppo.epochs == 4 and cfg.ppo.target_kl == 0.01
    # the defaults are built once per process (config/__init__.py): no override reaches the next
    # config, and a config is the caller's own
    fresh = load_config(None, [])
    assert fresh.env.batch_size == 128 and fresh.ppo.gamma == 1.0 and fresh.seed != 3
    assert fresh is not load_config(None, [])


def test_a_bad_override_among_good_ones_is_the_one_named():
    """The overrides merge in one go; an error merges them again one at a time, for its name."""
    msg = _one_line_error(["ppo.gamma=0.5", "env.batch_size=abc", "seed=3"])  # a merge's error
    assert msg.startswith("env.batch_size: ") and "gamma" not in msg and "seed" not in msg, msg


@pytest.mark.parametrize("override,key", [
    ("env.batchsize=8", "env.batchsize"),          # unknown key
    ("env.batch_size=abc", "env.batch_size"),      # wrong type
    ("env.batch_size=8.5", "env.batch_size"),      # float for int
    ("env.impasse=maybe", "env.impasse"),          # not a bool
    ("model.arch=transformer", "model.arch"),      # bad choice
    ("optim.lr_schedule=step", "optim.lr_schedule"),
    ("env.batch_size=-1", "env.batch_size"),       # negative
    ("ppo.entropy_coef=-0.01", "ppo.entropy_coef"),
    ("ppo.gamma=1.5", "ppo.gamma"),                # out of range
    ("ppo.value_search_mix=1.2", "ppo.value_search_mix"),
    ("ppo.value_search_quiet=5", "ppo.value_search_quiet"),
    ("ppo.clip_epsilon=2.5", "ppo.clip_epsilon"),
    ("ppo.clip_epsilon=0", "ppo.clip_epsilon"),
    ("ppo.value_search_quiet=-1", "ppo.value_search_quiet"),
    ("ppo.value_search_scale=0", "ppo.value_search_scale"),
    ("gumbel_az.q_range=2.5", "gumbel_az.q_range"),
    ("optim.lr=0", "optim.lr"),
    ("optim.betas=[0.9]", "optim.betas"),
    ("eval.opponents=[random,stockfish]", "eval.opponents"),
    ("foo", "foo"),                                # malformed override
    ("bar=1", "bar"),                              # unknown top-level key
])
def test_bad_override_is_one_line_config_error_naming_the_key(override, key):
    msg = _one_line_error([override])
    assert key in msg, f"message {msg!r} does not name {key!r}"
    if "." in key:  # a top-level key's full name is also its short name in OmegaConf's text
        assert msg.count(key) == 1, f"message {msg!r} names {key!r} more than once"


def test_the_value_targets_quiescence_bound_is_the_searchs():
    """config/sections.py repeats shogi.material.MAX_QUIET (the launcher imports no torch)."""
    from keisei_fn.shogi.material import MAX_QUIET

    assert f"from 0 to {MAX_QUIET}," in _one_line_error([f"ppo.value_search_quiet={MAX_QUIET + 1}"])
    top = load_config(None, [f"ppo.value_search_quiet={MAX_QUIET}"])
    assert top.ppo.value_search_quiet == MAX_QUIET


def test_the_clip_bound_is_the_dual_clips():
    """config/sections.py repeats algos/ppo/loss.py's DUAL_CLIP: 1 + clip_epsilon below it."""
    from keisei_fn.algos.ppo.loss import DUAL_CLIP

    assert f"1 + it stays below the dual clip's {DUAL_CLIP:g})" in _one_line_error(
        [f"ppo.clip_epsilon={DUAL_CLIP - 1}"])
    assert load_config(None, [f"ppo.clip_epsilon={DUAL_CLIP - 1.01}"]).ppo.clip_epsilon > 1.9


def test_unknown_key_suggests_the_nearest_one():
    assert _one_line_error(["model.blockz=3"]) == (
        "model.blockz: Key 'blockz' not in 'ModelConfig'. Did you mean: 'blocks'?")


def test_both_stop_conditions_zero_is_an_error():
    msg = _one_line_error(["total_updates=0", "time_budget_s=0"])
    assert "total_updates" in msg and "time_budget_s" in msg


def test_yaml_file_is_merged_and_overrides_win(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("env:\n  batch_size: 16\nppo:\n  gamma: 0.5\n  epochs: 3\n")
    cfg = load_config(path)
    assert (cfg.env.batch_size, cfg.ppo.gamma, cfg.ppo.epochs) == (16, 0.5, 3)
    assert cfg.env.max_plies == 256  # not in the file: default
    cfg = load_config(path, ["ppo.epochs=5"])
    assert (cfg.env.batch_size, cfg.ppo.epochs) == (16, 5)


def test_yaml_file_unknown_key_names_the_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("env:\n  batchsize: 16\n")
    assert "env.batchsize" in _one_line_error(path=path)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert str(path) in _one_line_error(path=path)


@pytest.mark.parametrize("text", ["env: [1,\n  batch_size: 3\n", "env:\n\tbatch_size: 3\n", "3\n"])
def test_invalid_yaml_file_names_the_file(tmp_path, text):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    assert str(path) in _one_line_error(path=path)


def test_yaml_list_file_is_config_error(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    assert str(path) in _one_line_error(path=path)


def test_to_yaml_round_trip():
    cfg = load_config(None, ["env.batch_size=7", "model.blocks=3"])
    again = from_yaml(to_yaml(cfg))
    assert OmegaConf.to_container(again) == OmegaConf.to_container(cfg)


def _cli(*args):
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=120)


def test_cli_bad_override_exits_2_with_one_line():
    assert CLI.is_file(), f"console script not installed at {CLI}"
    proc = _cli("train", "env.batchsize=3")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    assert "env.batchsize" in lines[0]
    assert proc.stdout == ""


def test_cli_print_config():
    proc = _cli("train", "--print-config", "env.batch_size=7")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed["env"]["batch_size"] == 7
    assert "batch_size: 7" in proc.stdout
    # the rest is the resolved default config
    assert printed["ppo"]["gamma"] == 1.0 and printed["model"]["arch"] == "resnet"


def test_cli_threads_flag_sets_the_training_config_key():
    """`keisei-fn --threads N train` trains with N threads (the run applies the config's key)."""
    assert yaml.safe_load(_cli("--threads", "2", "train", "--print-config").stdout)["threads"] == 2
    explicit = _cli("--threads", "2", "train", "threads=3", "--print-config").stdout
    assert yaml.safe_load(explicit)["threads"] == 3


@pytest.mark.parametrize("spec", ["greedy", "minimax", "mix:greedy,minimax,0.5",
                                  " mix:random,greedy,1 ", "mix:greedy,minimax,2",
                                  "mix:greedy,gnushogi:1,0.5", "gnushogi:1", "mix:greedy",
                                  "runs/nowhere", ""])
def test_config_and_arena_read_player_specs_with_one_parser(spec):
    """`eval.opponents` takes exactly the specs the arena builds as players in this process."""
    from keisei_fn.arena.opponents import make_player

    try:
        in_process = make_player(spec).batched
    except ValueError:
        in_process = False
    try:
        load_config(None, [f"eval.opponents=[{spec!r}]"] if spec.strip() else
                    ["eval.opponents=['']"])
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted == in_process


def test_a_run_saved_before_a_key_existed_resumes_with_the_value_it_trained_with(monkeypatch):
    import keisei_fn.config as config

    saved = to_yaml(load_config())
    assert "cap_material_scale" in saved
    older = "\n".join(ln for ln in saved.splitlines() if "cap_material_scale" not in ln)
    assert from_yaml(older).ppo.cap_material_scale == 0.0  # the value before the key existed
    # whatever the table says wins over the default, and a saved value wins over the table
    monkeypatch.setitem(config.SAVED_BEFORE_THE_KEY, "ppo.cap_material_scale", 3.5)
    assert from_yaml(older).ppo.cap_material_scale == 3.5
    assert from_yaml(saved).ppo.cap_material_scale == load_config().ppo.cap_material_scale
