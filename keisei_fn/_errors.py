"""One-line error text for messages that quote a library's exception."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The exception's first non-empty line (its type name if it has no message), truncated."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:limit]
