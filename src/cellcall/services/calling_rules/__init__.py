"""The calling rules: who may be called, and when (a filter on the dial queue).

The rules are data: ``data/calling_rules.toml`` lists them in order, each with its kind,
who it covers (the number's region, the campaign's audience and type) and its settings.
French consumer solicitation hours, public holidays (overseas departments included), the
4-calls-in-30-days cap, the 60 days after a refusal, prior consent from 11 August 2026,
the Belgian "Ne m'appelez plus" list, any do-not-call list, the site's and each campaign's
hours are all rules of that file.

- ``kinds.py``   one class per kind of rule, each with a small ``check``;
- ``hours.py``   weekly windows, time zones, public-holiday calendars;
- ``loading.py`` reading and validating the rules file;
- ``facts.py``   what the database knows about a batch of numbers;
- ``check.py``   applying the rules: ``check_callable`` → ``Verdict`` (callable, reason,
  next time). The queue (``services/queue.py``) uses the same functions per candidate.

Every rule is applied in the callee's local time in every candidate zone of the number.
"""

from cellcall.services.calling_rules.check import (
    Verdict,
    callee_of,
    check_callable,
    number_info,
    terms_of,
)
from cellcall.services.calling_rules.kinds import KINDS, Failure, Rule, Scope
from cellcall.services.calling_rules.loading import CallingRules, load_rules, parse_rules

__all__ = [
    "KINDS", "CallingRules", "Failure", "Rule", "Scope", "Verdict", "callee_of",
    "check_callable", "load_rules", "number_info", "parse_rules", "terms_of",
]
