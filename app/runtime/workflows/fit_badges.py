"""Fit badges for model tables: the load policy's verdict for a model, as a short coloured label.

All functions are plain Python; callers decide the thread (reading a model and probing the machine take a moment).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

log = logging.getLogger(__name__)

#: Verdict -> (badge text, colour) for tables and the fit bar.
BADGES = {
    "fits_gpu": ("GPU", "#2e7d32"),
    "partial_offload": ("GPU+CPU", "#ef8f00"),
    "cpu_only": ("CPU", "#1565c0"),
    "does_not_fit": ("too big", "#c62828"),
}


def badge(verdict: Optional[str]) -> tuple[str, str]:
    """(text, colour) for a verdict; ("?", grey) when unknown."""
    return BADGES.get(verdict or "", ("?", "#757575"))


def quick_verdict(model: str, prefs: Any = None, quant: Optional[str] = None) -> tuple[Optional[str], int]:
    """(verdict, weights bytes) for loading ``model`` the way a chat would, with the user's settings ``prefs``
    (:func:`app.runtime.load_policy.plan_load`); (None, 0) when the estimator cannot tell (logged)."""
    from app.runtime.load_policy import plan_load

    try:
        plan = plan_load(model, prefs, quant=quant)
        return plan.verdict, int(plan.spec.weights_bytes) if plan.spec is not None else 0
    except Exception as exc:  # noqa: BLE001 - a badge is optional; the reason goes to the log
        log.info("fit estimate for %s failed: %s", model, exc)
        return None, 0
