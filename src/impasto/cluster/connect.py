"""Reaching a Ray cluster: its address as users give it, and the one error when Ray is missing."""

from __future__ import annotations

import logging

from ..core.errors import ImpastoError

log = logging.getLogger("impasto")


def ray_module():
    try:
        import ray
    except ImportError:
        raise ImpastoError("--cluster needs Ray: pip install 'impasto[cluster]'") from None
    return ray


def connect(address: str):
    """Ray, connected to `address`: "auto" is a running cluster if this machine knows one (RAY_ADDRESS,
    or `ray start` here), else a local instance started for this process; "ray://host:port" or
    "host:port", that cluster."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
    try:
        if address == "auto":
            try:
                ray.init(address="auto", **quiet)
            except ConnectionError:
                ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
        else:
            host = address.removeprefix("ray://").rsplit(":", 1)[0]
            local = {"_node_ip_address": "127.0.0.1"} if host in ("127.0.0.1", "localhost") else {}
            ray.init(address=address, **quiet, **local)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ImpastoError(f"cannot reach the Ray cluster at '{address}': {str(exc).splitlines()[0]}") from None
    return ray
