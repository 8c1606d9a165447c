"""ChatSession on the real SmolLM2 model: template, streaming, stop, regenerate, K/V reuse, context-full handling."""

import pytest

from app.runtime.chat import ChatSession, LoadSettings, SamplingSettings
from app.runtime.conversations import Conversation, Message, load_conversation, save_conversation
from app.runtime.errors import ContextFullError
from converter.core.progress import CancelToken

pytestmark = pytest.mark.integration

MAX_TOKENS = 12
# One thread: on a shared 2-core machine two llama.cpp threads spin-wait on each other and run 10x slower.
THREADS = 1


@pytest.fixture(scope="module")
def session(smollm2_gguf):
    s = ChatSession(smollm2_gguf, LoadSettings(n_ctx=512, n_threads=THREADS),
                    sampling=SamplingSettings(temperature=0.0, max_tokens=MAX_TOKENS))
    yield s
    s.close()


@pytest.fixture
def fresh(session):
    session.reset(system_prompt="")
    session.sampling.max_tokens = MAX_TOKENS
    return session


def test_answers_with_the_models_template(fresh):
    assert not fresh.template.is_fallback and "<|im_start|>" in fresh.template.source
    pieces = []
    r = fresh.send("What is the capital of France?", on_token=pieces.append)
    assert r.text.strip() and r.stop_reason in ("eos", "max_tokens")
    assert 0 < len(r.tokens) <= MAX_TOKENS
    assert len(pieces) > 1 and "".join(pieces) == r.text  # streamed piece by piece
    assert [m.role for m in fresh.conversation.messages] == ["user", "assistant"]
    assert fresh.conversation.messages[1].content == r.text
    st = r.stats
    assert st.prompt_tokens > 20 and 1 <= st.prompt_evaluated <= st.prompt_tokens
    assert st.generation_tps > 0 and st.prompt_tps > 0
    assert st.context_used == st.prompt_tokens + len(r.tokens) and st.n_ctx == 512


def test_next_turn_reuses_the_kv_cache(fresh):
    fresh.send("Name a colour.")
    r = fresh.send("Name another one.")
    # only the new user message and the template's markers are evaluated, not the whole history again
    assert r.stats.prompt_evaluated < r.stats.prompt_tokens // 2


def test_stop_mid_answer_keeps_partial(fresh):
    fresh.sampling.max_tokens = 64
    cancel = CancelToken()
    pieces = []

    def on_token(piece):
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.cancel()

    r = fresh.send("Write a long poem about the sea.", on_token=on_token, cancel=cancel)
    assert r.stop_reason == "cancelled"
    assert len(r.tokens) == 3 and r.text == "".join(pieces)
    assert fresh.conversation.messages[-1] == Message("assistant", r.text, "cancelled", r.stats.to_dict())


def test_regenerate_replaces_last_answer(fresh):
    first = fresh.send("Say hello.")
    again = fresh.regenerate()
    assert again.text == first.text  # greedy: same answer, and only one token re-evaluated
    assert again.stats.prompt_evaluated == 1
    assert len(fresh.conversation.messages) == 2


def test_edit_and_resend(fresh):
    fresh.send("Say hello.")
    fresh.send("Say goodbye.")
    fresh.edit_and_resend(0, "Count to three.")
    assert [m.content for m in fresh.conversation.messages if m.role == "user"] == ["Count to three."]
    assert len(fresh.conversation.messages) == 2


def test_context_full_is_raised_and_dropping_turns_resolves_it(fresh):
    fresh.reset(system_prompt="You are terse.")
    fresh.sampling.max_tokens = 320  # a large answer budget keeps the history (and the test) short
    filler = "word " * 15
    fresh.conversation.messages = [Message(r, f"{r} {i} {filler}") for i in range(4) for r in ("user", "assistant")]
    before = list(fresh.conversation.messages)
    with pytest.raises(ContextFullError) as info:
        fresh.send("Short question?")
    err = info.value
    assert err.n_ctx == 512 and err.max_tokens == 320 and err.prompt_tokens + 320 > 512
    assert err.turns_to_drop and 1 <= err.turns_to_drop < 4
    assert fresh.conversation.messages == before  # nothing dropped silently
    assert fresh.turns_to_drop_for("Short question?") == err.turns_to_drop
    assert fresh.drop_oldest_turns(err.turns_to_drop) == err.turns_to_drop
    assert fresh.conversation.messages == before[2 * err.turns_to_drop:]
    assert fresh.context_use("Short question?").fits
    cancel = CancelToken()
    r = fresh.send("Short question?", on_token=lambda _: cancel.cancel(), cancel=cancel)  # one token is enough
    assert r.stop_reason in ("cancelled", "eos") and fresh.conversation.system_prompt == "You are terse."
    assert fresh.conversation.messages[-2].content == "Short question?"


def test_message_too_long_for_any_history(fresh):
    with pytest.raises(ContextFullError) as info:
        fresh.send("word " * 600)
    assert info.value.turns_to_drop is None and "too long" in str(info.value)
    assert fresh.conversation.messages == []


def test_saved_conversation_continues_after_loading(fresh, tmp_path):
    fresh.send("Name a fruit.")
    path = save_conversation(fresh.conversation, tmp_path)
    fresh.reset()
    loaded = load_conversation(path)
    assert isinstance(loaded, Conversation) and len(loaded.messages) == 2
    fresh.set_conversation(loaded)
    r = fresh.send("Another one?")
    assert r.text and len(fresh.conversation.messages) == 4


def test_prompt_lookup_gives_the_same_greedy_answer(smollm2_gguf, fresh):
    text = "Repeat exactly: the quick brown fox jumps over the lazy dog, the quick brown fox."
    plain = fresh.send(text)
    with ChatSession(smollm2_gguf, LoadSettings(n_ctx=512, n_threads=THREADS, lookup=True),
                     sampling=SamplingSettings(temperature=0.0, max_tokens=MAX_TOKENS)) as spec:
        guessed = spec.send(text)
    assert guessed.text == plain.text
    assert guessed.stats.drafted > 0


def test_quantized_kv_cache_with_flash_attention(smollm2_gguf):
    settings = LoadSettings(n_ctx=256, n_threads=THREADS, type_k="q8_0", type_v="q8_0", flash_attn="on")
    with ChatSession(smollm2_gguf, settings, sampling=SamplingSettings(temperature=0.0, max_tokens=4)) as s:
        r = s.send("Hi!")
        assert r.tokens and r.stats.n_ctx == 256
