"""The private APIs of torch, TorchRL and Aim the package relies on (keisei_fn/_private.py, and
the two ClipPPOLoss methods MaskedClipPPOLoss overrides), each checked against the installed
versions: a release that moves or changes one fails here, by name, instead of deep in a run."""

from __future__ import annotations

import inspect

import pytest

from keisei_fn import _private


def test_inductor_cache_dir_is_a_path():
    path = _private.inductor_cache_dir()
    assert isinstance(path, str) and path


def test_inductor_mode_options_name_inductor_settings():
    assert isinstance(_private.inductor_mode_options("default"), dict)
    options = _private.inductor_mode_options("max-autotune")
    assert options.get("max_autotune") is True


def test_compile_workers_can_be_stopped():
    assert _private.stop_inductor_compile_workers() is True


def test_the_functional_all_reduce_takes_tensor_op_group():
    params = list(inspect.signature(_private.functional_all_reduce()).parameters)
    assert params[:3] == ["self", "reduceOp", "group"]


def test_torchrl_ray_runtime_lease_acquires_and_releases():
    pytest.importorskip("ray")
    lease = _private.ray_runtime_lease()
    assert callable(lease.acquire) and callable(getattr(lease, "release", None))


def test_aim_repo_has_the_index_calls():
    from aim.sdk.repo import Repo

    assert callable(Repo._get_index_container) and callable(Repo.request_tree)


def test_the_overridden_clip_ppo_loss_methods_keep_their_signatures():
    """MaskedClipPPOLoss (algos/ppo/loss.py) overrides these two protected methods."""
    from torchrl.objectives import ClipPPOLoss

    assert list(inspect.signature(ClipPPOLoss._log_weight).parameters) == [
        "self", "tensordict", "adv_shape"]
    assert list(inspect.signature(ClipPPOLoss._get_entropy).parameters) == [
        "self", "dist", "adv_shape"]
