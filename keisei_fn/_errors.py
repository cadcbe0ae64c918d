"""One-line error text for messages that quote a library's exception."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The exception's first non-empty line (its type name if it has no message), truncated."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:limit]


class TrainingStopped(RuntimeError):
    """A training run had to stop (it checkpointed what it could): the CLI prints the message in
    one line and exits with code 3. Each cause is a subclass: non-finite updates that kept
    coming (`TrainingDiverged`), a checkpoint that cannot be written (`CheckpointWriteError`),
    collector workers that keep dying (`CollectorWorkerDied`), data-parallel ranks that disagree
    (`RanksDiverged`)."""
