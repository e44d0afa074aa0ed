"""The one line in env.py: `context.configure(**with_drizzlesync(...))`.

It takes the keyword arguments the user already passes to
`context.configure()` and returns them with DrizzleSync wired in: our
autogenerate plugin added to `autogenerate_plugins`, the library schema kept
out of autogenerate's sight, the configuration handed to the
comparator, and code generation run after each online upgrade or downgrade
(see `codegen_hook`). Hooks the user passed are kept and still called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import context

from ..config import ConfigError, SyncConfig, find_pyproject, load_config
from ..sql import CAPTURE_TRIGGER_PREFIX, SCOPE_INDEX_PREFIX
from . import renderers  # noqa: F401  (registers op.* and their renderers)
from .codegen_hook import chain, codegen_hook
from .compare import CONFIG_OPTION
from .drift import drift_check
from .errors import reported_as_command_error
from .renames import RenameWatch

PLUGIN_NAME = "drizzlesync"
DEFAULT_PLUGINS = ["alembic.autogenerate.*"]


def with_drizzlesync(*, drizzlesync: SyncConfig | Path | str | None = None, **options: Any) -> dict[str, Any]:
    """Return `options` for `context.configure()` with DrizzleSync registered.

    `drizzlesync` is a config object, a path to a pyproject.toml, or None to
    use the nearest pyproject.toml above the alembic.ini in use. A bad config
    raises a `ConfigError` that `alembic` prints as one line.
    """
    _hear_own_warnings()
    with reported_as_command_error():
        config = _resolve_config(drizzlesync)
    plugins = list(options.get("autogenerate_plugins") or DEFAULT_PLUGINS)
    if PLUGIN_NAME not in plugins:
        plugins.append(PLUGIN_NAME)
    options["autogenerate_plugins"] = plugins
    options["include_name"] = _hide_library_schema(config, options.get("include_name"))
    watch = RenameWatch(config.library_schema)
    connection = options.get("connection")
    if config.output is not None and connection is not None:
        watch.look_before_migrating(connection)
    options["on_version_apply"] = (
        drift_check(config),
        watch.on_version_apply,
        *chain(codegen_hook(config, watch), options.get("on_version_apply")),
    )
    options[CONFIG_OPTION] = config
    return options


def _hear_own_warnings() -> None:
    """Enable the package's loggers again after `env.py`'s `fileConfig()`.

    The `env.py` that `alembic init` writes calls `fileConfig(config.config_file_name)`, which
    disables every logger that exists by then, and Alembic has loaded this plugin before: our
    warnings (a synced shape changed without a new schema version, a table the schemas leave out)
    were never shown. This runs after `fileConfig()` in every such `env.py`; handlers and levels
    stay as the file set them.
    """
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and (
            name == "alembic_drizzlesync" or name.startswith("alembic_drizzlesync.")
        ):
            logger.disabled = False


def _resolve_config(given: SyncConfig | Path | str | None) -> SyncConfig:
    if isinstance(given, SyncConfig):
        return given
    if given is not None:
        return load_config(Path(given))
    ini = context.config.config_file_name
    start = Path(ini).resolve().parent if ini else Path.cwd()
    pyproject = find_pyproject(start)
    if pyproject is None:
        raise ConfigError(
            f"no pyproject.toml with [tool.drizzlesync] found at or above {start}; "
            "pass with_drizzlesync(drizzlesync=...) explicitly"
        )
    return load_config(pyproject)


IncludeName = Callable[[str | None, str, dict[str, Any]], bool]


def _hide_library_schema(config: SyncConfig, user_filter: IncludeName | None) -> IncludeName:
    """Keep autogenerate from proposing to drop our own schema's objects, or the scope indexes and
    capture triggers we keep on the user's tables.

    Alembic asks about schemas, tables and indexes; comparators of other objects ask too, with
    their own types: alembic_utils asks about each function, view and trigger it reflects
    (`"public.drizzlesync_capture_insert"`, type "trigger"), and proposes dropping those it was not
    given, which took capture off every synced table.
    """

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ == "schema" and name == config.library_schema:
            return False
        if type_ != "schema" and parent_names.get("schema_name") == config.library_schema:
            return False
        if type_ == "index" and name is not None and name.startswith(SCOPE_INDEX_PREFIX):
            return False
        if (
            type_ == "trigger"
            and name is not None
            and name.rpartition(".")[2].startswith(CAPTURE_TRIGGER_PREFIX)
        ):
            return False
        return user_filter(name, type_, parent_names) if user_filter else True

    return include_name
