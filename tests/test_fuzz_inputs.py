"""Fuzzed user input: checkpoint files and config files/overrides give only clear, specific
errors (CheckpointError / ConfigError, both ValueError subclasses the CLI prints in one line)."""

from __future__ import annotations

import hashlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from keisei_fn.agent import load_agent
from keisei_fn.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from keisei_fn.config import ConfigError, load_config
from keisei_fn.run.train import resume_config, train
from _tiny import TINY as _TINY

TINY = [*_TINY, "ppo.rollout_steps=4", "ppo.epochs=1", "total_updates=1"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("fuzz") / "run"
    train(load_config(None, TINY + [f"run_dir={run}"]), log=lambda m: None)
    return run


def _with_valid_checksum(path, payload_bytes: bytes):
    digest = hashlib.sha256(payload_bytes).hexdigest()
    path.write_bytes(b"KEISEI-CKPT 1 " + digest.encode() + b"\n" + payload_bytes)


@settings(max_examples=150)
@given(st.binary(max_size=4096))
def test_random_bytes_are_a_checkpoint_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("rb") / "ckpt_00000001.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    _with_valid_checksum(path, data)  # right checksum, garbage payload
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


@settings(max_examples=60)
@given(st.floats(min_value=0.0, max_value=0.999))
def test_truncated_checkpoints_are_a_checkpoint_error(real_run, tmp_path_factory, fraction):
    src = sorted(real_run.glob("ckpt_*.pt"))[-1].read_bytes()
    path = tmp_path_factory.mktemp("tr") / "ckpt_00000001.pt"
    path.write_bytes(src[: int(len(src) * fraction)])
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_agent(path)


@pytest.mark.parametrize("mutate", [
    lambda p: p.pop("params"),
    lambda p: p.pop("config"),
    lambda p: p.__setitem__("config", "model: [1, 2"),
    lambda p: p.__setitem__("config", 12),
    lambda p: p.__setitem__("params", {"stem": {"weight": torch.zeros(3)}}),
    lambda p: p["params"].__setitem__("stem", {"weight": torch.zeros(8, 46, 5, 5),
                                               "bias": torch.zeros(8)}),
    lambda p: p.__setitem__("format", {"action_labels": 13527, "observation_planes": 46}),
    lambda p: p.__setitem__("rng", {}),
    lambda p: p.__setitem__("games", {"game": {}}),
    lambda p: p.__setitem__("counters", None),
])
def test_structurally_wrong_checkpoints_with_valid_checksums_are_refused(real_run, tmp_path,
                                                                          mutate):
    """Tampered (or foreign) payloads that pass the checksum: load_agent and resume refuse them
    with a CheckpointError (or ConfigError for a broken saved config), never a traceback."""
    payload = read_checkpoint(sorted(real_run.glob("ckpt_*.pt"))[-1])
    mutate(payload)
    run = tmp_path / "run"
    path = save_checkpoint(payload, run, 1)
    (run / "config.yaml").write_text((real_run / "config.yaml").read_text())
    agent_error = None
    try:
        load_agent(path)
    except (CheckpointError, ConfigError) as err:
        agent_error = err
    resume_error = None
    try:
        train(resume_config(run, ["total_updates=2"]), resume=True, log=lambda m: None)
    except (CheckpointError, ConfigError) as err:
        resume_error = err
    # Each mutation breaks at least one of the two consumers, and only with a clear error.
    assert agent_error is not None or resume_error is not None
    for err in (agent_error, resume_error):
        if err is not None:
            assert "\n" not in str(err)


def test_tampered_tensor_shape_is_named(real_run, tmp_path):
    payload = read_checkpoint(sorted(real_run.glob("ckpt_*.pt"))[-1])
    payload["params"]["policy_out"]["weight"] = torch.zeros(27, 8, 3, 3)
    path = save_checkpoint(payload, tmp_path, 1)
    with pytest.raises(CheckpointError, match=r"policy_out.weight has shape \(27, 8, 3, 3\)"):
        load_agent(path)


_KEYS = st.sampled_from(["env.batch_size", "env", "model.arch", "ppo.gamma", "optim.betas",
                         "eval.opponents", "seed", "nope", "track.aim", "model.blocks.x", ""])
_VALUES = st.one_of(st.text(max_size=12), st.integers(-5, 5).map(str),
                    st.sampled_from(["nan", "inf", "-1", "[1,2]", "{a: 1}", "null", "true",
                                     "1e9", "'x'", "[random, nope]"]))


@settings(max_examples=150)
@given(st.lists(st.tuples(_KEYS, st.sampled_from(["=", "", "=="]), _VALUES), max_size=3))
def test_fuzzed_overrides_load_or_fail_with_one_line_config_error(items):
    overrides = [k + eq + v for k, eq, v in items]
    try:
        load_config(None, overrides)
    except ConfigError as err:
        assert "\n" not in str(err).strip()


@settings(max_examples=100)
@given(st.text(max_size=200))
def test_fuzzed_yaml_files_load_or_fail_with_one_line_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "c.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as err:
        assert "\n" not in str(err).strip()
