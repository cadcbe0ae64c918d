"""Every private API of torch, TorchRL and Aim the package uses, each behind one function here, so
that a new release breaks one module, and `tests/test_private_apis.py` says which (it checks each
against the installed versions: torch 2.13, torchrl 0.14, aim 3.x, ray 2.x when installed).

The one private API not wrapped here is an override: algos/ppo/loss.py's MaskedClipPPOLoss
replaces ClipPPOLoss._log_weight and _get_entropy; the test pins their signatures.
"""

from __future__ import annotations


def inductor_cache_dir() -> str:
    """Where inductor keeps its compiled kernels (its disk cache)."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return cache_dir()


def stop_inductor_compile_workers() -> bool:
    """Stop inductor's pool of compile worker processes (it outlives compilation); False where
    this torch has no such call."""
    try:
        from torch._inductor.async_compile import shutdown_compile_workers
    except ImportError:
        return False
    shutdown_compile_workers()
    return True


def inductor_mode_options(mode: str) -> dict:
    """The inductor options a torch.compile `mode` stands for (to pass with options of ours)."""
    import torch._inductor

    return dict(torch._inductor.list_mode_options(mode))


def functional_all_reduce():
    """The traceable all-reduce(tensor, op, group) torch.compile puts into a graph."""
    from torch.distributed._functional_collectives import all_reduce

    return all_reduce


def ray_runtime_lease():
    """TorchRL's lease on a Ray runtime (acquire(config) / release()), the one RayCollector
    holds: the last release stops a Ray instance a lease started."""
    from torchrl._comm.ray_runtime import _RayRuntimeLease

    return _RayRuntimeLease


def aim_index_run(repo, run_hash: str) -> None:
    """Copy an Aim run's metadata into the repo's meta index, as aim's RepoIndexManager.index
    does, without its watchdog threads. Raises aimrocks' RocksIOError while another writer holds
    the index (the caller retries)."""
    index = repo._get_index_container("meta", timeout=0)
    try:
        run_meta = repo.request_tree("meta", run_hash, read_only=True,
                                     skip_read_optimization=True)
        run_meta.subtree(("meta", "chunks", run_hash)).finalize(index=index.tree().view(()))
    finally:
        index.close()  # release the single-writer lock before anyone reads or indexes
