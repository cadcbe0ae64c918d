"""Training algorithms: what a batch of experience is turned into (losses, targets, advantages)."""
