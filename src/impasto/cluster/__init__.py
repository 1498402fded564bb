"""impasto on a Ray cluster (the optional extra impasto[cluster]): collections stylized across
the cluster's workers (collection.py), the web app's jobs run on them (lane.py)."""

from .collection import stylize

__all__ = ["stylize"]
