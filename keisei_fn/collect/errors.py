"""What a collector raises, in a module of its own: the backends raise it, the run catches it."""

from __future__ import annotations

from .._errors import TrainingStopped


class CollectorWorkerDied(TrainingStopped):
    """A collector worker process died; the run stops after checkpointing its last state."""
