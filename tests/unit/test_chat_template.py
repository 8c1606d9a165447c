"""Chat templates render like transformers / llama-cpp-python's Jinja2ChatFormatter, inside a sandbox."""

import pytest

from app.runtime.chat.template import ChatTemplate
from app.runtime.errors import TemplateError

SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
           "<|im_end|>\n' }}"
           "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

LLAMA3_LIKE = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
               "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
               "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")

MSGS = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"}]


def test_smollm2_template_with_generation_prompt():
    t = ChatTemplate(SMOLLM2, bos_token="<|im_start|>", eos_token="<|im_end|>")
    out = t.render(MSGS)
    assert out.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n" in out
    assert out.endswith("<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
    assert not t.render(MSGS, add_generation_prompt=False).endswith("assistant\n")


def test_system_message_replaces_default():
    out = ChatTemplate(SMOLLM2).render([{"role": "system", "content": "Be brief."}] + MSGS)
    assert out.startswith("<|im_start|>system\nBe brief.<|im_end|>\n") and "SmolLM" not in out


def test_bos_and_eos_tokens_are_passed():
    out = ChatTemplate(LLAMA3_LIKE, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>").render(MSGS[:1])
    assert out == ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_no_template_falls_back_to_chatml():
    t = ChatTemplate(None)
    assert t.is_fallback
    assert t.render(MSGS[:1]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert ChatTemplate("   ").is_fallback


def test_trim_blocks_and_loopcontrols_and_generation_tag():
    src = ("{% for m in messages %}\n{% if m.role == 'assistant' %}{% continue %}{% endif %}\n"
           "{% generation %}[{{ m.content }}]{% endgeneration %}\n{% endfor %}")
    assert ChatTemplate(src).render(MSGS) == "[Hi][Bye]"


def test_tojson_keeps_unicode():
    assert ChatTemplate("{{ messages[0].content | tojson }}").render([{"role": "user", "content": "héllo"}]) \
        == '"héllo"'


def test_raise_exception_becomes_template_error():
    src = "{% if messages[0].role != 'system' %}{{ raise_exception('System first!') }}{% endif %}"
    with pytest.raises(TemplateError, match="System first!"):
        ChatTemplate(src).render(MSGS)


def test_syntax_error_is_template_error():
    with pytest.raises(TemplateError, match="not valid Jinja"):
        ChatTemplate("{% for m in messages %}")


def test_sandbox_blocks_unsafe_access():
    with pytest.raises(TemplateError):
        ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}").render(MSGS)
    with pytest.raises(TemplateError):  # immutable sandbox: no mutating the caller's data
        ChatTemplate("{{ messages.append(1) }}").render(MSGS)


def test_template_without_system_role_gets_it_in_the_first_user_message():
    src = ("{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}"
           "{% endif %}<{{ m.role }}>{{ m.content }}{% endfor %}")
    t = ChatTemplate(src)
    assert t.render([{"role": "system", "content": "Be brief."}] + MSGS[:1], add_generation_prompt=False) \
        == "<user>Be brief.\n\nHi"
    with pytest.raises(TemplateError, match="System role not supported"):
        t.render([{"role": "system", "content": "x"}])  # nothing to fold into
