"""Collection: the acting policy, TorchRL collectors (direct, process, Ray) and rollout layout."""
