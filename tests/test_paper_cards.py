"""Every paper method carries a paper card whose visgen column is read from the code: a model built with the defaults
(its modules, attributes, or a measurement on it), never a constant; switching an option changes what the row reads."""
import dis
import pytest
from visgen.registry import load_methods, PAPER_CARDS, check_card, render_card, card_rows

# The paper methods are the registered methods with a card (ADDP's parts, vq and token_predictor, are on ADDP's card):
# a method added in its own notebook with `paper_card` is tested here without an edit.
REGISTERED = load_methods()
PAPER_METHODS = sorted(PAPER_CARDS)

def test_every_card_belongs_to_a_registered_method():
    assert PAPER_METHODS and set(PAPER_METHODS) <= set(REGISTERED), (PAPER_METHODS, REGISTERED)


def reads_its_model(get) -> bool:
    "Whether the row's reader `get` loads its argument, the built model, anywhere in its code."
    arg = get.__code__.co_varnames[0]                  # a local, or a cell when a comprehension or closure uses it
    return any(i.opname.startswith(('LOAD_FAST', 'LOAD_DEREF', 'LOAD_CLOSURE'))
               and arg in (i.argval if isinstance(i.argval, tuple) else (i.argval,)) for i in dis.get_instructions(get))


def test_reads_its_model_tells_a_constant():
    assert reads_its_model(lambda m: m.order) and reads_its_model(lambda m: 'linear' if m.head else 'other')
    assert reads_its_model(lambda m: sum(p.shape[0] for p in m.parameters()))          # through a comprehension
    assert not reads_its_model(lambda m: 'MSE') and not reads_its_model(lambda m: 0.1)


@pytest.mark.parametrize('name', PAPER_METHODS)
def test_method_has_a_card_that_matches_its_defaults(name):
    check_card(name)
    md = render_card(name)
    assert md.count('\n|') >= 4, md


@pytest.mark.parametrize('name', PAPER_METHODS)
def test_no_row_compares_a_constant_with_itself(name):
    constant = [r.choice for r in PAPER_CARDS[name][1] if not reads_its_model(r.get)]
    assert not constant, f"{name}: rows whose visgen value is a constant, not read from the model: {constant}"


# a non-default option and what its row must then read: the rows read the option's effect, not the default
SWITCHES = [
    ('saim', dict(norm_pix_var='biased'), 'norm-pix variance', 'biased'),
    ('saim', dict(shared_norm=False), 'LayerNorm before cross-attention', 'one each'),
    ('saim', dict(norm_eps=1e-5), 'LayerNorm eps', 1e-5),
    ('saim', dict(dec_depth=2), 'query layer k attends', 'output of layer (k+1)L/Ld'),
    ('saim', dict(head='linear'), 'prediction head', 'linear'),
    ('addp', dict(dropout=0.), 'dropout (table 14)', 0.),
    ('addp', dict(label_smoothing=0.), 'label smoothing (table 14)', 0.),
    ('addp', dict(norm_eps=1e-5), 'LayerNorm eps', 1e-5),
    ('addp', dict(head='linear'), 'output layer', 'Linear'),
    ('addp', dict(decode_rule='mage'), 'tokens left masked after step s of S', "floor, at least 1, none after the last step (MAGE's)"),
    ('addp', dict(schedule='cosine'), 'generation schedule', 'cosine'),
    ('addp', dict(schedule='cosine'), 'generation steps (sec. 4.1)', '0 to 2 tokens per step'),
    ('addp', dict(temperature=4.5), 'Gumbel temperature', 4.5),
    ('randsac', dict(norm_pix_var='biased'), "norm-pix variance (appendix B.4: MAE's norm-pix; MAE's code: unbiased)", 'biased'),
    ('randsac', dict(pos='rope2d'), 'encoder positions (sec. 4.1)', 'rope2d'),
    ('darl_mse', dict(decoder_depth=2), 'patch decoder (table 2)', '2-block residual MLP'),
    ('darl_mse', dict(rope_base=10000.), 'RoPE base', 10000.),
    ('darl_mse', dict(norm_pix=True), 'target', 'per-patch normalised pixels'),
    ('darl_diffusion', dict(gamma_cond=False), 'gamma conditioning', 'none'),
    ('darl_diffusion', dict(rope_base=10000.), 'RoPE base', 10000.),
]

@pytest.mark.parametrize('name,opts,choice,value', SWITCHES, ids=lambda v: str(v)[:40])
def test_a_row_reads_the_option_it_names(name, opts, choice, value):
    default = {r['choice']: r['visgen'] for r in card_rows(name)}
    switched = {r['choice']: r['visgen'] for r in card_rows(name, **opts)}
    assert switched[choice] == value and default[choice] != value, (choice, default[choice], switched[choice])
