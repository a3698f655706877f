"""Roles and what each may do, as data.

A user has one role.  An API token carries scopes; what a request made with it may do
is the token's scopes within its user's role (a duty engineer's "admin" token can do
nothing an engineer cannot).

=========== ===================================================================
read        see tickets, devices, states, records and reports (a customer user:
            only the sites of its customer account)
work        act on tickets as the engineer (ack, on site, parts, resolve, comment,
            pause/resume a clock with a reason), fill in inspection records
confirm     confirm a repair and close the ticket, sign off records: the customer
admin       manage users and tokens
=========== ===================================================================
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role."""

    DUTY = "duty"  # the duty or resident engineer
    SUPERVISOR = "supervisor"
    CUSTOMER = "customer"  # the bureau's staff
    ADMIN = "admin"


class Permission(StrEnum):
    """One thing a role or a token's scope allows."""

    READ = "read"
    WORK = "work"
    CONFIRM = "confirm"
    ADMIN = "admin"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.DUTY: frozenset({Permission.READ, Permission.WORK}),
    Role.SUPERVISOR: frozenset({Permission.READ, Permission.WORK}),
    Role.CUSTOMER: frozenset({Permission.READ, Permission.CONFIRM}),
    Role.ADMIN: frozenset(Permission),
}

# What each ticket action needs: the customer confirms and closes (or reopens, not
# satisfied) and may comment; the engineers do the rest.  (The console, the API and
# `monitor tickets --by` read it here.)
ACTION_NEEDS: dict[str, frozenset[Permission]] = {
    "close": frozenset({Permission.CONFIRM}),
    "reopen": frozenset({Permission.CONFIRM, Permission.WORK}),
    "comment": frozenset({Permission.CONFIRM, Permission.WORK}),
}


def may_act(grants: frozenset[Permission], action: str) -> bool:
    """Whether `grants` allow the ticket action `action` (any one permission it needs)."""
    return bool(grants & ACTION_NEEDS.get(action, frozenset({Permission.WORK})))
