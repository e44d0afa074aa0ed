"""The `[tool.drizzlesync]` configuration: read once, validated, typed.

Every mistake is reported as a `ConfigError` whose message starts with the
offending key (`tool.drizzlesync.tables."public.todos".scope: ...`) so that a
user can fix it without reading our source.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_SCHEMA = "public"
DEFAULT_LIBRARY_SCHEMA = "drizzlesync"
"""Where the library's own objects live unless `[tool.drizzlesync] schema` says otherwise."""
ROOT_KEY = "tool.drizzlesync"
AUTH_KEY = f"{ROOT_KEY}.auth"

# The library schema is spliced into SQL text, so it is kept to plain lower-case words.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PATTERN = re.compile(r"^(?:[^.\s]+\.)?[^.\s]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAMING = ("camel", "preserve")
_TIMESTAMP_MODES = ("date", "string")


class ConfigError(ValueError):
    """Configuration that cannot be used; the message names the key."""


@dataclass(frozen=True)
class TableRule:
    """Per-table settings from `[tool.drizzlesync.tables."schema.table"]` or `Table.info`."""

    sync: bool = True
    scope: str | None = None


# How every host verifies a bearer JWT (the Worker host reads the same file).
_JWT_RULES = json.loads(
    resources.files("alembic_drizzlesync.protocol").joinpath("jwt.json").read_text(encoding="utf-8")
)
HMAC_ALGORITHMS: tuple[str, ...] = tuple(_JWT_RULES["algorithms"]["secret"])
PUBLIC_KEY_ALGORITHMS: tuple[str, ...] = tuple(_JWT_RULES["algorithms"]["keys"])
DEFAULT_LEEWAY_SECONDS: float = _JWT_RULES["leewaySeconds"]
MAX_LEEWAY_SECONDS: float = _JWT_RULES["maxLeewaySeconds"]
MIN_RSA_BITS: int = _JWT_RULES["minRsaBits"]


@dataclass(frozen=True)
class AuthConfig:
    """How the sync host verifies bearer JWTs, from `[tool.drizzlesync.auth]`.

    Either a shared secret (HMAC), read from the environment variable
    `secret_env` names, never from the file, or the public keys of a JWKS
    URL. The two never mix in one set of algorithms: a public key taken as
    an HMAC secret would let anyone who has it sign tokens.
    """

    secret_env: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ()
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS

    def __post_init__(self) -> None:
        if self.secret_env is not None and not _ENV_NAME.match(self.secret_env):
            raise ConfigError(
                f"{AUTH_KEY}.secret_env: names the environment variable that holds the secret "
                "(e.g. DRIZZLESYNC_JWT_SECRET), not the secret itself"
            )
        check_jwt_keys(self.secret_env is not None, self.jwks_url, self.algorithms, self.leeway_seconds)

    @property
    def accepted_algorithms(self) -> tuple[str, ...]:
        return accepted_algorithms(self.secret_env is not None, self.algorithms)


def check_jwt_keys(uses_secret: bool, jwks_url: str | None, algorithms: Iterable[str], leeway: float) -> None:
    """One source of keys, algorithms that fit it, a small leeway: for the file, flags and code alike."""
    if uses_secret == (jwks_url is not None):
        raise ConfigError(f"{AUTH_KEY}: set exactly one of secret_env (HS256) and jwks_url (RS256/ES256)")
    if jwks_url is not None and not jwks_url.startswith(("https://", "http://")):
        raise ConfigError(f"{AUTH_KEY}.jwks_url: expected an https:// URL, got {jwks_url!r}")
    allowed = HMAC_ALGORITHMS if uses_secret else PUBLIC_KEY_ALGORITHMS
    for algorithm in algorithms:
        if algorithm not in allowed:
            raise ConfigError(
                f"{AUTH_KEY}.algorithms: {algorithm!r} cannot be used with "
                f"{'secret_env' if uses_secret else 'jwks_url'} (expected some of {', '.join(allowed)})"
            )
    if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
        raise ConfigError(f"{AUTH_KEY}.leeway_seconds: expected 0 to {MAX_LEEWAY_SECONDS} seconds")


def accepted_algorithms(uses_secret: bool, algorithms: Iterable[str]) -> tuple[str, ...]:
    """The configured algorithms, else HS256 for a secret and RS256/ES256 for a JWKS."""
    return tuple(algorithms) or tuple(_JWT_RULES["defaultAlgorithms"]["secret" if uses_secret else "keys"])


@dataclass(frozen=True)
class SyncConfig:
    library_schema: str = DEFAULT_LIBRARY_SCHEMA
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    tables: Mapping[str, TableRule] = field(default_factory=dict)
    output: Path | None = None
    naming: str = "camel"
    timestamp_mode: str = "date"
    user_scopes_query: str | None = None
    auth: AuthConfig | None = None
    schemas: tuple[str, ...] | None = None
    """The schemas code generation reads; None: every user schema but the library's own."""

    def wants(self, schema: str | None, table: str) -> bool:
        """Is `schema.table` selected for sync by name, glob and excludes?"""
        name = qualified_name(schema, table)
        rule = self.tables.get(name)
        if rule is not None:
            return rule.sync
        if any(_glob_matches(pattern, name) for pattern in self.exclude):
            return False
        return any(_glob_matches(pattern, name) for pattern in self.include)

    def rule_for(self, schema: str | None, table: str) -> TableRule:
        return self.tables.get(qualified_name(schema, table), TableRule())

    def refined_by(self, schema: str | None, table: str, info: Mapping[str, Any]) -> TableRule | None:
        """The rule for one table once its `Table.info["drizzlesync"]` is applied.

        Returns None when the table is not synced. `info` wins over pyproject,
        because it sits next to the model it describes.
        """
        name = qualified_name(schema, table)
        key = f'Table.info["drizzlesync"] of {name}'
        raw = info.get("drizzlesync")
        base = self.rule_for(schema, table)
        wanted = self.wants(schema, table)
        if raw is None:
            return base if wanted else None
        if isinstance(raw, bool):
            return base if raw else None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{key}: expected a bool or a mapping, got {type(raw).__name__}")
        rule = _table_rule(key, raw, default_sync=True)
        return rule if rule.sync else None


def qualified_name(schema: str | None, table: str) -> str:
    return f"{schema or DEFAULT_SCHEMA}.{table}"


def split_name(name: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    return (schema or DEFAULT_SCHEMA, table)


def _glob_matches(pattern: str, name: str) -> bool:
    if "." not in pattern:
        pattern = f"{DEFAULT_SCHEMA}.{pattern}"
    return fnmatch.fnmatchcase(name, pattern)


def _check_pattern(key: str, pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise ConfigError(f"{key}: expected a string, got {pattern!r}")
    if not _PATTERN.match(pattern):
        raise ConfigError(f"{key}: {pattern!r} is not a table name or glob such as 'todos' or 'app.*'")
    if pattern.count("[") != pattern.count("]"):
        raise ConfigError(f"{key}: {pattern!r} has an unbalanced '[' in its glob")
    return pattern


def _patterns(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list of table names or globs")
    return tuple(_check_pattern(f"{key}[{i}]", p) for i, p in enumerate(value))


def _schemas(key: str, value: Any, library_schema: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{key}: expected a list of schema names, such as ["public", "auth"]')
    names = tuple(_string(f"{key}[{i}]", name) for i, name in enumerate(value))
    if library_schema in names:
        index = names.index(library_schema)
        raise ConfigError(f"{key}[{index}]: {library_schema!r} is the library's own schema, never generated")
    return names


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _choice(key: str, value: Any, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        raise ConfigError(f"{key}: expected one of {', '.join(options)}, got {value!r}")
    return str(value)


def _reject_unknown(key: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key (known keys: {', '.join(sorted(known))})")


def _table_rule(key: str, raw: Mapping[str, Any], default_sync: bool) -> TableRule:
    _reject_unknown(key, raw, ("sync", "scope"))
    sync = raw.get("sync", default_sync)
    if not isinstance(sync, bool):
        raise ConfigError(f"{key}.sync: expected true or false, got {sync!r}")
    scope = raw.get("scope")
    if scope is not None:
        scope = _string(f"{key}.scope", scope)
        if ";" in scope:
            raise ConfigError(f"{key}.scope: a scope rule is one SQL expression, without ';'")
    return TableRule(sync=sync, scope=scope)


def parse_config(raw: Mapping[str, Any]) -> SyncConfig:
    """Validate the mapping found under `[tool.drizzlesync]`."""
    known = (
        "schema",
        "include",
        "exclude",
        "tables",
        "output",
        "naming",
        "timestamp_mode",
        "user_scopes_query",
        "auth",
        "schemas",
    )
    _reject_unknown(ROOT_KEY, raw, known)
    library_schema = _string(f"{ROOT_KEY}.schema", raw.get("schema", DEFAULT_LIBRARY_SCHEMA))
    if not _IDENTIFIER.match(library_schema):
        raise ConfigError(
            f"{ROOT_KEY}.schema: {library_schema!r} must be a lower-case SQL identifier (a-z, 0-9, _)"
        )
    tables_raw = raw.get("tables", {})
    if not isinstance(tables_raw, Mapping):
        raise ConfigError(f"{ROOT_KEY}.tables: expected a table of per-table settings")
    tables: dict[str, TableRule] = {}
    for name, rule in tables_raw.items():
        key = f'{ROOT_KEY}.tables."{name}"'
        _check_pattern(key, name)
        if any(ch in name for ch in "*?["):
            raise ConfigError(f"{key}: per-table settings need an exact table name, not a glob")
        if not isinstance(rule, Mapping):
            raise ConfigError(f'{key}: expected a table such as {{ scope = "..." }}')
        _reject_unquoted_qualified_name(name, rule)
        tables[qualified_name(*split_name(name))] = _table_rule(key, rule, default_sync=True)
    output = raw.get("output")
    users = raw.get("user_scopes_query")
    schemas = raw.get("schemas")
    return SyncConfig(
        library_schema=library_schema,
        include=_patterns(f"{ROOT_KEY}.include", raw.get("include", [])),
        exclude=_patterns(f"{ROOT_KEY}.exclude", raw.get("exclude", [])),
        tables=tables,
        output=Path(_string(f"{ROOT_KEY}.output", output)) if output is not None else None,
        naming=_choice(f"{ROOT_KEY}.naming", raw.get("naming", "camel"), _NAMING),
        timestamp_mode=_choice(
            f"{ROOT_KEY}.timestamp_mode", raw.get("timestamp_mode", "date"), _TIMESTAMP_MODES
        ),
        user_scopes_query=_string(f"{ROOT_KEY}.user_scopes_query", users) if users else None,
        auth=_auth(raw["auth"]) if "auth" in raw else None,
        schemas=_schemas(f"{ROOT_KEY}.schemas", schemas, library_schema) if schemas is not None else None,
    )


def _reject_unquoted_qualified_name(name: str, rule: Mapping[str, Any]) -> None:
    """`[tool.drizzlesync.tables.app.todos]` is, to TOML, table `todos` inside a table `app`.

    Read as written it is settings for a table `app` with an unknown key
    `todos`, an error that does not say what is wrong: the schema-qualified
    name needs quotes. A setting whose value is itself a table is that slip.
    """
    nested = sorted(key for key, value in rule.items() if isinstance(value, Mapping))
    if nested:
        qualified = f"{name}.{nested[0]}"
        raise ConfigError(
            f'{ROOT_KEY}.tables."{name}".{nested[0]}: TOML reads [{ROOT_KEY}.tables.{qualified}] as '
            f"table {nested[0]!r} inside {name!r}; quote a schema-qualified name: "
            f'[{ROOT_KEY}.tables."{qualified}"]'
        )


def _auth(raw: Any) -> AuthConfig:
    key = AUTH_KEY
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f'{key}: expected a table such as {{ jwks_url = "https://…/.well-known/jwks.json" }}'
        )
    if "secret" in raw:
        raise ConfigError(
            f"{key}.secret: secrets do not belong in pyproject.toml; name the environment variable "
            'that holds it instead, e.g. secret_env = "DRIZZLESYNC_JWT_SECRET"'
        )
    _reject_unknown(
        key, raw, ("secret_env", "jwks_url", "issuer", "audience", "algorithms", "leeway_seconds")
    )
    optional = {
        name: _string(f"{key}.{name}", raw[name])
        for name in ("secret_env", "jwks_url", "issuer")
        if name in raw
    }
    leeway = raw.get("leeway_seconds", DEFAULT_LEEWAY_SECONDS)
    if isinstance(leeway, bool) or not isinstance(leeway, int | float):
        raise ConfigError(f"{key}.leeway_seconds: expected a number of seconds, got {leeway!r}")
    return AuthConfig(
        **optional,
        audience=_strings(f"{key}.audience", raw.get("audience", [])),
        algorithms=_strings(f"{key}.algorithms", raw.get("algorithms", [])),
        leeway_seconds=float(leeway),
    )


def _strings(key: str, value: Any) -> tuple[str, ...]:
    """A string or a list of them."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"{key}: expected a string or a list of strings, got {value!r}")
    return tuple(_string(f"{key}[{i}]", item) for i, item in enumerate(items))


def load_config(pyproject: Path) -> SyncConfig:
    """Read `[tool.drizzlesync]` from a pyproject.toml; relative paths are resolved against it."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{pyproject}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from None
    raw = data.get("tool", {}).get("drizzlesync")
    if raw is None:
        raise ConfigError(f"{pyproject}: no [{ROOT_KEY}] section")
    config = parse_config(raw)
    if config.output is not None and not config.output.is_absolute():
        config = replace(config, output=pyproject.parent / config.output)
    return config


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` that has a `[tool.drizzlesync]` table.

    One without it is passed over, as a package's own pyproject.toml inside
    a repository whose DrizzleSync settings sit at its root is: the search
    stopped at it, and every command reported no settings. One that is not
    valid TOML is an error, since its settings cannot be told.
    """
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: not valid TOML: {exc}") from None
        if "drizzlesync" in data.get("tool", {}):
            return candidate
    return None
