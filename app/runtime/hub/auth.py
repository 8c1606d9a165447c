"""Hugging Face tokens, kept in huggingface_hub's own token store (shared with ``hf auth login``).

Tokens are passed to huggingface_hub and into request headers only: never printed, logged or stored by us.
"""

from __future__ import annotations

import logging

from huggingface_hub import get_token as _hf_get_token
from huggingface_hub import login as _hf_login
from huggingface_hub.errors import HfHubHTTPError

from app.runtime.errors import HubAuthError

from ._client import require_online, translate

log = logging.getLogger(__name__)


def stored_token() -> str | None:
    """The token huggingface_hub would use (``HF_TOKEN`` or the stored one), or None when logged out."""
    return _hf_get_token()


def is_logged_in() -> bool:
    """True when a token is available."""
    return stored_token() is not None


def login(token: str) -> None:
    """Check ``token`` with the Hub and store it in huggingface_hub's token store."""
    token = token.strip()
    if not token:
        raise HubAuthError("empty token: create one at https://huggingface.co/settings/tokens")
    require_online()
    rejected = HubAuthError("the Hub rejected this token: check it at https://huggingface.co/settings/tokens",
                            status=401)
    try:
        _hf_login(token=token, add_to_git_credential=False)
    except ValueError:  # huggingface_hub: an organization token, or otherwise unusable
        raise rejected from None
    except HfHubHTTPError as exc:
        if exc.response is not None and exc.response.status_code == 401:
            raise rejected from None
        raise translate(exc) from None
    except Exception as exc:  # noqa: BLE001 - network failures are translated, the rest propagates
        error = translate(exc)
        if error is exc:
            raise
        raise error from None
    log.info("logged in to the Hugging Face Hub")
