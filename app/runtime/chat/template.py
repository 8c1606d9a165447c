"""Render a conversation with the model's own chat template (``tokenizer.chat_template`` in the GGUF metadata).

Templates are Jinja2 written for Hugging Face ``transformers``; we render them the way transformers and
llama-cpp-python's ``Jinja2ChatFormatter`` do: an immutable sandbox (templates come from downloaded files),
``trim_blocks``/``lstrip_blocks``, the ``loopcontrols`` extension, a pass-through ``{% generation %}`` tag, a
``tojson`` filter that keeps non-ASCII text, and the variables ``messages``, ``bos_token``, ``eos_token``,
``add_generation_prompt``, ``raise_exception`` and ``strftime_now``.

A model without a template gets ChatML, which is also llama.cpp's own fallback.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping, Sequence

from app.runtime.errors import TemplateError

#: ChatML, used when the model ships no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise TemplateError(f"the chat template refused this conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _compile(source: str):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _GenerationTag(jinja2.ext.Extension):
        """Hugging Face's ``{% generation %}...{% endgeneration %}`` marks trainable spans; render the body as is."""

        tags = {"generation"}

        def parse(self, parser):
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
        extensions=[_GenerationTag, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    return env.from_string(source)


class ChatTemplate:
    """A compiled chat template plus the special-token texts it may reference."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        """Compile ``source`` (the model's template; None or empty selects ChatML).

        Raises :class:`TemplateError` if the template is not valid Jinja.
        """
        self.is_fallback = not (source and source.strip())
        self.source = CHATML_TEMPLATE if self.is_fallback else str(source)
        self.bos_token = bos_token
        self.eos_token = eos_token
        try:
            self._template = _compile(self.source)
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise TemplateError(f"the model's chat template is not valid Jinja: {_one_line(exc)}") from None

    def render(self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The prompt text for ``messages`` (dicts with ``role`` and ``content``).

        ``add_generation_prompt`` appends the header that starts the assistant's answer.
        Raises :class:`TemplateError` when the template fails on this conversation.
        """
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            return self._render(msgs, add_generation_prompt)
        except TemplateError:
            folded = _fold_system(msgs)
            if folded is None:
                raise
            # Some templates (Gemma, Mistral v1...) refuse a system role: put the system prompt in the first user
            # message, as those models' own documentation suggests.
            return self._render(folded, add_generation_prompt)

    def _render(self, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        try:
            return self._template.render(messages=msgs, bos_token=self.bos_token, eos_token=self.eos_token,
                                         add_generation_prompt=add_generation_prompt)
        except TemplateError:
            raise
        except Exception as exc:
            raise TemplateError(f"the model's chat template failed: {_one_line(exc)}") from None


def _fold_system(msgs: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """``msgs`` with a leading system message merged into the first user message (None if there is none)."""
    if len(msgs) < 2 or msgs[0]["role"] != "system" or msgs[1]["role"] != "user":
        return None
    first = {"role": "user", "content": f"{msgs[0]['content']}\n\n{msgs[1]['content']}"}
    return [first] + msgs[2:]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
