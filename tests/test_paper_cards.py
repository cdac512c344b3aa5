"Every paper method carries a paper card whose visgen column is read from a model built with its defaults."
import pytest
from visgen.registry import load_methods, PAPER_CARDS, check_card, render_card

# every method of the four papers (vq and token_predictor are ADDP's parts, on ADDP's card)
PAPER_METHODS = ('addp', 'darl_diffusion', 'darl_mse', 'randsac', 'saim')
load_methods()

@pytest.mark.parametrize('name', PAPER_METHODS)
def test_method_has_a_card_that_matches_its_defaults(name):
    assert name in PAPER_CARDS, f"{name} has no paper card: call visgen.registry.paper_card in its notebook"
    check_card(name)
    md = render_card(name)
    assert md.count('\n|') >= 4, md
