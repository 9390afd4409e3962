"""The Cloudflare API token: where it is looked for, and the paste mistakes it is checked for.

Order: `$CREDENTIALS_DIRECTORY/cloudflare-token` (systemd `LoadCredential=`), the config's
`token_file`, `$CLOUDFLARE_API_TOKEN`. No message here ever contains the token.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pi_ddns import files, report
from pi_ddns.errors import ConfigError

if TYPE_CHECKING:
    from pi_ddns.config import Config

TOKEN_CREDENTIAL = "cloudflare-token"
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
NTFY_CREDENTIAL = "ntfy-token"  # the ntfy access token: credential or [notify] ntfy_token_file
MAX_TOKEN_FILE = 4096  # bytes; a token is 40 characters
_ENV_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def find(token_file: Path | None, env: Mapping[str, str], *, name: str = TOKEN_CREDENTIAL,
         env_var: str | None = TOKEN_ENV) -> tuple[str | None, str | None]:
    """The token and where it came from, in the documented order; (None, None) if absent;
    (None, path) if the first file found is not readable by this user. `name` and `env_var`:
    the credential's name and environment variable (the ntfy token has none)."""
    candidates: list[Path] = []
    if env.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(env["CREDENTIALS_DIRECTORY"]) / name)
    if token_file is not None:
        candidates.append(token_file)
    for path in candidates:
        try:
            raw = files.read_regular(path, MAX_TOKEN_FILE)
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        except PermissionError:
            # Not an error yet: `status` run as the service user needs no token. require()
            # names this file if the token is needed after all.
            return None, str(path)
        except files.FileRefused as e:
            raise ConfigError(f"{path}: refusing the token file: {e.strerror}") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the token file: {e.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH) and path == token_file:
            report.warning(f"{path}: the token file is readable by group or others; "
                           "chmod 0600 it")
        return check(raw, str(path)), str(path)
    if env_var is not None and env.get(env_var) is not None:
        origin = f"${env_var}"
        return check(env[env_var].encode("utf-8", "replace"), origin), origin
    return None, None


def require(cfg: Config) -> str:
    """The token, or a ConfigError that says where it was looked for."""
    if not cfg.token and cfg.token_origin:
        raise ConfigError(f"{cfg.token_origin}: cannot read the token file: permission denied")
    if not cfg.token:
        raise ConfigError(f"{cfg.path}: no API token: put it in $CREDENTIALS_DIRECTORY/"
                          f"{TOKEN_CREDENTIAL}, in the file named by token_file, or in "
                          f"${TOKEN_ENV}")
    return cfg.token


def check(raw: bytes, origin: str) -> str:
    """Reject the usual paste mistakes. Messages never contain the token itself."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"{origin}: the token contains non-ASCII bytes") from None
    token = text.removesuffix("\n").removesuffix("\r")
    if not token.strip():
        raise ConfigError(f"{origin}: the token is empty")
    if token[0] in "\"'" or token[-1] in "\"'":
        raise ConfigError(f"{origin}: the token is quoted; store only the token itself")
    if _ENV_LINE.match(token):
        raise ConfigError(f"{origin}: the token looks like a KEY=value line; store only the "
                          "value")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(f"{origin}: the token contains whitespace or control characters "
                          "(more than one line?)")
    return token
