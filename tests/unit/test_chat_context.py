"""Context accounting: when does a request fit, and how many oldest turns must go (never the system prompt)."""

from app.runtime.chat.context import ContextUse, count_turns, drop_oldest_turns, turns_to_drop
from app.runtime.errors import ContextFullError


def words(messages):
    """A stand-in tokenizer: one token per word plus 2 per message for the template's markers."""
    return sum(len(m["content"].split()) + 2 for m in messages)


SYSTEM = {"role": "system", "content": "be nice"}


def conv(n_turns, size=10):
    msgs = [SYSTEM]
    for i in range(n_turns):
        msgs += [{"role": "user", "content": " ".join([f"q{i}"] * size)},
                 {"role": "assistant", "content": " ".join([f"a{i}"] * size)}]
    return msgs


def test_drop_keeps_system_prompt_and_order():
    msgs = conv(3)
    out = drop_oldest_turns(msgs, 1)
    assert out[0] == SYSTEM and out[1]["content"].startswith("q1") and len(out) == 5
    assert drop_oldest_turns(msgs, 0) == msgs
    assert drop_oldest_turns(msgs, 99) == [SYSTEM]
    assert count_turns(msgs) == 3


def test_turns_to_drop_counts_exactly():
    msgs = conv(4) + [{"role": "user", "content": "new question here"}]
    total = words(msgs)  # 4 (system) + 4 turns * 24 + 5 = 105
    assert total == 105
    assert turns_to_drop(msgs, words, n_ctx=200, max_tokens=50) == 0
    # 105 + 20 = 125 > 120: one turn (24 tokens) must go -> 101 + 20 <= 120
    assert turns_to_drop(msgs, words, n_ctx=120, max_tokens=20) == 1
    assert turns_to_drop(msgs, words, n_ctx=100, max_tokens=20) == 2
    # only the system prompt and the new message: 4 + 5 + 20 = 29
    assert turns_to_drop(msgs, words, n_ctx=29, max_tokens=20) == 4
    assert turns_to_drop(msgs, words, n_ctx=28, max_tokens=20) is None


def test_context_use_and_error_message():
    use = ContextUse(prompt_tokens=400, max_tokens=128, n_ctx=512)
    assert not use.fits and abs(use.fraction - 400 / 512) < 1e-9
    err = ContextFullError(prompt_tokens=400, max_tokens=128, n_ctx=512, turns_to_drop=2)
    assert "drop the oldest 2 turns" in str(err) and "512" in str(err)
    assert "too long" in str(ContextFullError(prompt_tokens=600, max_tokens=128, n_ctx=512, turns_to_drop=None))
