"""Which records a flow log delivers, and which a filter needs: the traffic-type contract.

A flow log records ``ALL`` traffic, or only ``ACCEPT``ed or only ``REJECT``ed flows
(its traffic type). A detector whose filter only matches records of one action
(``action = ACCEPT``) cannot fire on a flow log that never delivers that action: a
REJECT-only flow log switches off every detector of accepted traffic. Pure logic,
shared by the constructs (which refuse such a pairing at synth), replay (which
feeds a filter only the records its flow log would deliver) and the cost estimate
(which proposes only alternatives that keep every detector working).

Records without an action (``-``: NODATA and SKIPDATA status records) are taken to be
delivered whatever the traffic type (the VPC user guide does not say otherwise).
"""

from __future__ import annotations

from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.matcher import slot_predicate

ACTIONS = ("ACCEPT", "REJECT")
"""The values of a flow-log record's ``action`` field (``-`` when it has none)."""

TRAFFIC_TYPES: dict[str, frozenset[str]] = {
    "ALL": frozenset(ACTIONS),
    "ACCEPT": frozenset({"ACCEPT"}),
    "REJECT": frozenset({"REJECT"}),
}
"""Flow-log traffic type -> the record actions it delivers."""


def delivered(traffic_type: str) -> frozenset[str]:
    """The actions a flow log of ``traffic_type`` (``ALL``, ``ACCEPT``, ``REJECT``) delivers.

    Raises:
        ValueError: an unknown traffic type, with the known ones.
    """
    found = TRAFFIC_TYPES.get(str(traffic_type).upper())
    if found is None:
        raise ValueError(
            f"traffic type must be one of {', '.join(TRAFFIC_TYPES)}; got {traffic_type!r}"
        )
    return found


def required_actions(tree: s.Pattern, field: str = "action") -> frozenset[str]:
    """The actions a record must have to match ``tree``, when its ``action`` slot allows
    only one of them (``action = ACCEPT``); empty when any action may match."""
    if not isinstance(tree, s.SpaceDelimited):
        return frozenset()
    slot = next((slot for slot in tree.named if slot.name == field), None)
    if slot is None or slot.condition is None:
        return frozenset()
    admits = slot_predicate(slot.condition)
    allowed = frozenset(action for action in ACTIONS if admits(action))
    return allowed if len(allowed) == 1 else frozenset()


def missing_actions(required: frozenset[str], traffic_type: str) -> frozenset[str]:
    """The required actions that a flow log of ``traffic_type`` does not deliver."""
    return frozenset(required) - delivered(traffic_type)
