"""The tokens: where they are looked for, the paste mistakes they are checked for, and who
gets them. The config holds none: a command that needs a token asks here (update and remove
the Cloudflare token, update the ntfy token for its notifications), and each token found is
hidden from every log line at once (report.hide).

Cloudflare token order: `--token-stdin` if given; else `$CREDENTIALS_DIRECTORY/cloudflare-token`
(systemd `LoadCredential=`), the config's `token_file`, `$CLOUDFLARE_API_TOKEN`. The ntfy token:
`$CREDENTIALS_DIRECTORY/ntfy-token`, then `[notify] ntfy_token_file`. No message here ever
contains a token.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from pi_ddns import files, report
from pi_ddns.config import NTFY_HTTP, Config, secure
from pi_ddns.errors import ConfigError

TOKEN_CREDENTIAL = "cloudflare-token"
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
NTFY_CREDENTIAL = "ntfy-token"  # the ntfy access token: credential or [notify] ntfy_token_file
MAX_TOKEN_FILE = 4096  # bytes; a token is 40 characters
STDIN = "--token-stdin"  # the origin named in messages about a token read from stdin
MIN_LENGTH = 20  # Cloudflare's API tokens have 40 characters
_ENV_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# An example's or a template's stand-in, never a real token (matched whole, any case).
_PLACEHOLDER = re.compile(r"(<.*>|change[-_ ]?me|x+|your[-_ ]?.*|todo|token|secret|placeholder"
                          r"|none|null)\Z", re.IGNORECASE)
# RFC 6750's b64token: what a bearer token may hold.
_BEARER = re.compile(r"[A-Za-z0-9._~+/-]+=*\Z")


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
            # Not an error yet: check-config says "no token found yet". cloudflare_token()
            # names this file if the token is needed after all.
            return None, str(path)
        except files.FileRefused as e:
            raise ConfigError(f"{path}: refusing the token file: {e.strerror}") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the token file: {e.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH) and path == token_file:
            report.warning(f"{path}: the token file is readable by group or others; "
                           "chmod 0600 it")
        return check(raw, str(path), api=name == TOKEN_CREDENTIAL), str(path)
    if env_var is not None and env.get(env_var) is not None:
        origin = f"${env_var}"
        return check(env[env_var].encode("utf-8", "replace"), origin), origin
    return None, None


def cloudflare_token(cfg: Config, env: Mapping[str, str] | None = None, *,
                     stdin: bool = False) -> str:
    """The Cloudflare API token (from stdin when `stdin`), checked and hidden; else a
    ConfigError that says where it was looked for."""
    if stdin:
        token: str | None = read_stdin()
        origin: str | None = STDIN
    else:
        token, origin = find(cfg.token_file, os.environ if env is None else env)
    report.hide(token)  # from here on, no log line or notification can hold it
    if not token and origin:
        raise ConfigError(f"{origin}: cannot read the token file: permission denied")
    if not token:
        raise ConfigError(f"{cfg.path}: no API token: put it in $CREDENTIALS_DIRECTORY/"
                          f"{TOKEN_CREDENTIAL}, in the file named by token_file, or in "
                          f"${TOKEN_ENV}")
    return token


def ntfy_token(cfg: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The ntfy access token for the notifications (None: none found, or no ntfy_url),
    checked and hidden; a ConfigError if it would go out over plain http."""
    if not cfg.notify.ntfy_url:
        return None
    token, _ = find(cfg.notify.ntfy_token_file, os.environ if env is None else env,
                    name=NTFY_CREDENTIAL, env_var=None)
    report.hide(token)
    if token and not secure(cfg.notify.ntfy_url):
        raise ConfigError(f"{cfg.path}: notify.ntfy_url: {NTFY_HTTP}")
    return token


def read_stdin() -> str:
    """The token on standard input (`--token-stdin`: no file, no argument, no environment
    variable holds it), checked like one from a file."""
    try:
        raw = sys.stdin.buffer.read(MAX_TOKEN_FILE + 1)
    except (OSError, ValueError, AttributeError):  # stdin closed or not a byte stream
        raise ConfigError(f"{STDIN}: cannot read the token from standard input") from None
    if len(raw) > MAX_TOKEN_FILE:
        raise ConfigError(f"{STDIN}: the token is longer than {MAX_TOKEN_FILE} bytes")
    return check(raw, STDIN)


def check(raw: bytes, origin: str, *, api: bool = True) -> str:
    """Reject the usual paste mistakes (`api`: a Cloudflare API token, so also a placeholder
    and anything not shaped like one). Messages never contain the token itself."""
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
    if not api:
        return token
    if _PLACEHOLDER.match(token):
        raise ConfigError(f"{origin}: the token is still a placeholder; put the API token from "
                          "the Cloudflare dashboard there")
    if len(token) < MIN_LENGTH or not _BEARER.match(token):
        raise ConfigError(f"{origin}: this is not an API token (a Cloudflare API token has 40 "
                          "characters: letters, digits, - and _); store only the token itself")
    return token
