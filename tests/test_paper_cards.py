"Every paper method carries a paper card whose visgen column is read from a model built with its defaults."
import pytest
from visgen.registry import load_methods, PAPER_CARDS, check_card, render_card

# The paper methods are the registered methods with a card (ADDP's parts, vq and token_predictor, are on ADDP's card):
# a method added in its own notebook with `paper_card` is tested here without an edit.
REGISTERED = load_methods()
PAPER_METHODS = sorted(PAPER_CARDS)

def test_every_card_belongs_to_a_registered_method():
    assert PAPER_METHODS and set(PAPER_METHODS) <= set(REGISTERED), (PAPER_METHODS, REGISTERED)

@pytest.mark.parametrize('name', PAPER_METHODS)
def test_method_has_a_card_that_matches_its_defaults(name):
    check_card(name)
    md = render_card(name)
    assert md.count('\n|') >= 4, md
