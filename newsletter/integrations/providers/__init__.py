"""One module per sending service: check that a request is really from it, then read its
events into `events.ProviderEvent`s. Each has `NAME`, `enabled(config)` and
`events(session, config, incoming, now)`; which are on is configuration (README)."""

from __future__ import annotations

from types import ModuleType

from newsletter.integrations.providers import mailgun, postmark, sendgrid, ses

PROVIDERS: dict[str, ModuleType] = {m.NAME: m for m in (ses, postmark, sendgrid, mailgun)}
