"""Checks on the Hydra launcher a multirun uses, before any job or MLflow run starts.

Ray, given the address of a cluster that is not there, retries the connection for ever. This
callback (``hydra.callbacks.launcher_check``, listed before the sweep run's) tries the address
once and stops the multirun with one line naming the key.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
CONNECT_TIMEOUT_SECONDS = 5.0


def ray_address(config: DictConfig) -> tuple[str, str] | None:
    """The (key, address) of the Ray cluster a multirun joins, or None for a new local one."""
    launcher = config.hydra.launcher
    if launcher.get("_target_") != RAY_LAUNCHER:
        return None
    configured = launcher.ray.init.get("address")
    key, address = (
        ("hydra.launcher.ray.init.address", configured)
        if configured
        else ("RAY_ADDRESS", os.environ.get("RAY_ADDRESS"))
    )
    # "auto" and "local" are Ray's own lookups; ray:// goes through Ray Client's proxy.
    if not address or address in ("auto", "local") or address.startswith("ray://"):
        return None
    return key, address


class LauncherCheck(Callback):
    """Stops a Ray multirun at once when nothing listens at the cluster address it was given."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        found = ray_address(config)
        if found is None:
            return
        key, address = found
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
        except (OSError, ValueError) as e:
            print(
                f"mtrec: error: {key}={address}: no Ray cluster answers there ({e}); start one with "
                "`ray start --head`, or leave the address unset for a local cluster",
                file=sys.stderr,
            )
            sys.exit(2)
