"""API keys and other secrets in the config: never plain strings, never logged.

A secret option accepts a literal (``api_key = "dsk_…"``), an environment variable
(``api_key = { env = "CRYPTOLISTING_KEY" }``) or a file (``api_key = { file = "/run/secrets/k" }``,
trailing whitespace stripped). It becomes a ``SecretStr`` when the config is loaded, so a missing
variable or file is a config error at start (naming the field, never the value), and ``repr``,
logs and validation errors show ``**********``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr


def resolve_secret(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in os.environ:
                raise ValueError(f"environment variable {name} is not set")
            return SecretStr(os.environ[name])
        if set(value) == {"file"}:
            path = Path(str(value["file"]))
            try:
                return SecretStr(path.read_text().rstrip())
            except OSError as exc:
                raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        raise ValueError('a secret is a string, { env = "NAME" } or { file = "PATH" }')
    return value


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
"""Use as a pydantic field type for every API key or secret in venue options."""
