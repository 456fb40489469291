"""The legal clocks as the hospital configures them: ``CHARTVAULT_CLOCK_<NAME>_DAYS`` and
``CHARTVAULT_CLOCK_<NAME>_EXTENSION_DAYS`` for each clock of release.clocks (right_of_access,
accounting, amendment, disclosure), read by archive.config like every other setting.

A state law may be stricter than HIPAA, never looser: a federal clock set longer than its
rule allows stops the app at start with the variable's name and the limit, since every due
date it computed would be late."""

from __future__ import annotations

from archive.config import PREFIX, SettingError, Settings
from release.clocks import DEFAULT_CLOCKS, DISCLOSURE, Clock

# The clocks a federal rule fixes: their defaults are also their ceilings. The disclosure
# clock is the hospital's own target and has none.
FEDERAL = frozenset(DEFAULT_CLOCKS) - {DISCLOSURE}


def configured_clocks(settings: Settings) -> dict[str, Clock]:
    """Every clock, each the default unless its settings say otherwise."""
    return {name: _clock(settings, name, default) for name, default in DEFAULT_CLOCKS.items()}


def _clock(settings: Settings, name: str, default: Clock) -> Clock:
    days = getattr(settings, f"clock_{name}_days")
    extension_days = getattr(settings, f"clock_{name}_extension_days")
    if days is None and extension_days is None:
        return default
    days = default.days if days is None else days
    extension_days = default.extension_days if extension_days is None else extension_days
    if name in FEDERAL:
        _within(name, "days", days, default.days, default.rule)
        _within(name, "extension_days", extension_days, default.extension_days, default.rule)
    extension = (f"one {extension_days}-day extension" if extension_days
                 else "no extension")
    return Clock(days, extension_days,
                 f"hospital setting ({_variable(name, 'days')}): {days} days, {extension}; "
                 f"the rule: {default.rule}")


def _within(name: str, part: str, value: int, ceiling: int, rule: str) -> None:
    if value > ceiling:
        raise SettingError(f"{_variable(name, part)}={value}: the federal rule allows at most "
                           f"{ceiling} ({rule}); a state may set a shorter period, not a "
                           f"longer one. Give {ceiling} or fewer.")


def _variable(name: str, part: str) -> str:
    return f"{PREFIX}CLOCK_{name.upper()}_{part.upper()}"
