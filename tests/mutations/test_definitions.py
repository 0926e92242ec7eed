"""Who receives a change under the subscriptions (kruispunt/mutations/data/subscriptions.yaml)."""

from __future__ import annotations

from kruispunt.mutations.definitions import Line, default_subscriptions

KSZ = "0244640631"  # runs the bis register and the derived-rights engine
NR = "0362475538"
RVA = "0206737484"
OCMW = "0212140186"


def test_the_ksz_engine_receives_the_replaced_numbers_of_its_own_bis_register() -> None:
    got = default_subscriptions().recipients(
        change_type="insz.replaced", source=KSZ, kind=None, lines=[Line(RVA, 12, 1), Line(KSZ, 25, 1)]
    )
    by = {r.institution: r.subscription for r in got}
    assert by == {RVA: "24/101", KSZ: "24/103"}  # the KSZ not through its own directory line


def test_a_source_never_gets_its_own_change_through_the_persons_it_integrates() -> None:
    got = default_subscriptions().recipients(
        change_type="status.opened",
        source=OCMW,
        kind="leefloon",
        lines=[Line(OCMW, 17, 2)],
    )
    assert [r.institution for r in got] == [KSZ]


def test_a_change_nobody_subscribed_to_reaches_nobody() -> None:
    assert (
        default_subscriptions().recipients(change_type="address.changed", source=RVA, kind=None, lines=[])
        == []
    )
