"""The sponsor tree: every investor under X, with their level, at any depth."""

import pytest

from backoffice.lib.errors import DomainError
from clients.models import PATH_STEP, Investor, path_step
from clients.services import investor_create, investor_move
from tests.factories import InvestorFactory

pytestmark = pytest.mark.django_db


def chain(length, sponsor=None):
    nodes = []
    for k in range(length):
        sponsor = investor_create(name=f"Level {k + 1}", sponsor=sponsor)
        nodes.append(sponsor)
    return nodes


def structure(root):
    return {i.name: i.level for i in Investor.objects.in_structure_of(root).with_level(root)}


def test_path_steps_have_a_fixed_width_and_sort_like_the_ids():
    steps = [path_step(n) for n in (1, 35, 36, 1295, 10**9)]
    assert all(len(s) == PATH_STEP for s in steps)
    assert steps == sorted(steps)


def test_a_new_investor_reads_the_head_of_the_path_it_was_given():
    nodes = chain(12)
    assert [n.path_head for n in nodes] == [n.path[: PATH_STEP * 10] for n in nodes]
    assert len(nodes[-1].path_head) == PATH_STEP * 10 < len(nodes[-1].path)


def test_structure_is_every_investor_below_at_any_depth_with_their_level():
    root = InvestorFactory(name="Root")
    a = InvestorFactory(name="A", sponsor=root)
    InvestorFactory(name="A1", sponsor=a)
    b = InvestorFactory(name="B", sponsor=root)
    InvestorFactory(name="B1", sponsor=b)
    InvestorFactory(name="Elsewhere")
    assert structure(root) == {"A": 1, "A1": 2, "B": 1, "B1": 2}
    assert structure(a) == {"A1": 1}


def test_structure_reaches_down_sixty_five_levels():
    nodes = chain(66)
    levels = structure(nodes[0])
    assert len(levels) == 65
    assert levels["Level 66"] == 65


def test_structure_does_not_include_a_neighbour_whose_id_shares_a_prefix():
    # Fixed-width steps: investor 1's subtree must not catch investors 10, 11, … at the top.
    roots = [InvestorFactory(name=f"Top {k}") for k in range(12)]
    InvestorFactory(name="Child of first", sponsor=roots[0])
    assert structure(roots[0]) == {"Child of first": 1}


def test_structure_query_is_one_query_whatever_the_depth(django_assert_num_queries):
    nodes = chain(30)
    with django_assert_num_queries(1):
        assert len(structure(nodes[0])) == 29


def test_moving_an_investor_moves_their_whole_structure():
    root, other = InvestorFactory(name="Root"), InvestorFactory(name="Other")
    a = InvestorFactory(name="A", sponsor=root)
    InvestorFactory(name="A1", sponsor=a)
    investor_move(investor=a, sponsor=other)
    assert structure(root) == {}
    assert structure(other) == {"A": 1, "A1": 2}
    a.refresh_from_db()
    assert a.sponsor == other and a.depth == 2


def test_an_investor_cannot_be_moved_under_their_own_structure():
    a = InvestorFactory(name="A")
    a1 = InvestorFactory(name="A1", sponsor=a)
    with pytest.raises(DomainError):
        investor_move(investor=a, sponsor=a1)
    assert structure(a) == {"A1": 1}


def test_moving_refreshes_the_instance_given_so_new_clients_get_the_right_path():
    root, other = InvestorFactory(name="Root"), InvestorFactory(name="Other")
    a = InvestorFactory(name="A", sponsor=root)
    investor_move(investor=a, sponsor=other)
    InvestorFactory(name="A1", sponsor=a)
    assert structure(other) == {"A": 1, "A1": 2}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
def test_the_participants_above_read_both_ways_are_the_same_nearest_first(seed, monkeypatch):
    """`participants_of` tests a few participants' paths as prefixes, and looks up every
    ancestor when there are many: over a random tree with participants at random places
    (a neighbour whose id shares a prefix included), both give the same lists."""
    import random

    from clients import selectors
    from tests.factories import participant

    rng = random.Random(seed)
    people = [InvestorFactory()]
    for number in range(60):
        sponsor = rng.choice(people[-8:])  # deep chains, with branches
        if rng.random() < 0.3:
            people.append(participant(f"p{seed}-{number}", sponsor=sponsor))
        else:
            people.append(InvestorFactory(sponsor=sponsor))
    paths = [investor.path for investor in Investor.objects.all()] + [""]
    few = selectors.participants_of(paths)
    monkeypatch.setattr(selectors, "FEW_PARTICIPANTS", 0)
    many = selectors.participants_of(paths)
    assert {p: [i.pk for i in found] for p, found in few.items()} == {
        p: [i.pk for i in found] for p, found in many.items()
    }
    assert any(len(found) > 1 for found in few.values())
    for path, found in few.items():
        assert [len(i.path) for i in found] == sorted((len(i.path) for i in found), reverse=True)
        assert all(path.startswith(i.path) and i.path != path for i in found)


@pytest.mark.parametrize("seed", range(3))
def test_a_structure_read_on_the_path_head_is_the_one_read_on_the_whole_path(seed):
    """`in_structure_of` reads the path's head (`PATH_HEAD`) for a root above it and the whole
    path below it. Over a random tree deeper than the head, with neighbours whose ids share a
    prefix and a subtree moved, every investor's structure is the same read both ways and the
    same as walking the sponsors."""
    import random

    from clients.models import PATH_END, PATH_HEAD

    rng = random.Random(seed)
    people = [InvestorFactory(name=f"Top {k}") for k in range(12)]
    for _ in range(90):
        sponsor = rng.choice(people[-6:] if rng.random() < 0.7 else people)
        people.append(InvestorFactory(sponsor=sponsor))
    mover = rng.choice(people[20:])
    investor_move(investor=mover, sponsor=rng.choice(people[:12]))
    everyone = {i.pk: i for i in Investor.objects.all()}
    assert max(len(i.path) for i in everyone.values()) > PATH_HEAD
    assert any(len(i.path) == PATH_HEAD - PATH_STEP for i in everyone.values())

    def below(root):
        found = set()
        for investor in everyone.values():
            sponsor = investor.sponsor_id
            while sponsor is not None and sponsor != root.pk:
                sponsor = everyone[sponsor].sponsor_id
            if sponsor == root.pk:
                found.add(investor.pk)
        return found

    for root in everyone.values():
        on_head = set(Investor.objects.in_structure_of(root).values_list("pk", flat=True))
        on_path = set(
            Investor.objects.filter(path__gt=root.path, path__lt=root.path + PATH_END).values_list(
                "pk", flat=True
            )
        )
        assert on_head == on_path == below(root), root.path
        assert root.path_head == root.path[:PATH_HEAD]
    shallow = min(everyone.values(), key=lambda i: len(i.path))
    deep = max(everyone.values(), key=lambda i: len(i.path))

    def where(root):
        return str(Investor.objects.in_structure_of(root).query).split(" WHERE ")[1]

    assert "path_head" in where(shallow) and "path_head" not in where(deep)
