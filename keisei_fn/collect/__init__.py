"""Collection: the acting policy, TorchRL collectors (direct, process, Ray) and rollout layout."""

from .collectors import DirectBackend, WorkerBackend, make_collector
from .errors import CollectorWorkerDied
from .policy import CollectPolicy, act, bind
from .rollout import rollout, stored_bytes
from .stats import game_stats, league_stats, pooled_stats

__all__ = ["CollectPolicy", "CollectorWorkerDied", "DirectBackend", "WorkerBackend", "act", "bind",
           "game_stats", "league_stats", "make_collector", "pooled_stats", "rollout",
           "stored_bytes"]
