"""Collection: the acting policy, TorchRL collectors (direct, process, Ray) and rollout layout."""

from .collectors import (dead_workers, make_collector, next_rollout, restart_collector, shutdown,
                         sync_weights)
from .errors import CollectorWorkerDied
from .policy import CollectPolicy, act, bind
from .rollout import rollout, stored_bytes
from .stats import game_stats, league_stats, pooled_stats

__all__ = ["CollectPolicy", "CollectorWorkerDied", "act", "bind", "dead_workers", "game_stats",
           "league_stats", "make_collector", "next_rollout", "pooled_stats", "restart_collector",
           "rollout", "shutdown", "stored_bytes", "sync_weights"]
