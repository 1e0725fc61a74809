"""The schemas' registration in Hydra's ConfigStore, where the YAML options in ``conf/`` find them.

Each schema is stored at the root of the store (``dataset_schema``, ...), not inside its group:
a group option named ``dataset_schema`` would be offered as a dataset by ``mtrec --help`` and by
tab completion. An option names its schema as ``- /dataset_schema@_here_``.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from mtrec.config.schema import GROUP_SCHEMAS, Config


def register_configs() -> None:
    """Registers the root schema and each group's schema; idempotent."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for group, node in GROUP_SCHEMAS.items():
        cs.store(name=f"{group}_schema", node=node)
    _register_ray_launcher(cs)


def _register_ray_launcher(cs: ConfigStore) -> None:
    """``hydra/launcher=ray`` as hydra-ray-launcher 1.2.2 stores it, minus its object store size.

    The plugin adds ``object_store_memory`` (75 MB) to ``ray.init`` unless the key is set, and Ray 2
    refuses that argument when it joins a running cluster (``RAY_ADDRESS`` or
    ``hydra.launcher.ray.init.address``); a null leaves the size to Ray. Without the ``ray`` extra
    there is nothing to adjust. The plugin exposes its config classes only from its private
    ``_config`` module (checked with hydra-ray-launcher 1.2.2).
    """
    try:
        from hydra_plugins.hydra_ray_launcher._config import RayConf, RayLauncherConf
    except ImportError:
        return
    init = {"address": None, "object_store_memory": None}
    cs.store(
        group="hydra/launcher",
        name="ray",
        node=RayLauncherConf(ray=RayConf(init=init)),
        provider="mtrec",
    )
