"""Chat: the model's chat template rendered as transformers renders it, conversations that keep
their KV cache from turn to turn, and `sqlgpt chat` driven through a terminal (a pty).

The templates are SmolLM2's (ChatML) and a Llama 3 style one that uses bos_token, trim,
namespace, tojson and raise_exception; transformers' `apply_chat_template` is the judge of
the rendered string and of its token ids. The chat model is a random-weight Qwen2 with a
ChatML tokenizer.json (conftest), so replies are gibberish, but exactly the same gibberish on
every engine.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.chat import render

from .conftest import make_llama_checkpoint, write_hf_tokenizer

CHATML = (  # SmolLM2-Instruct's template
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3 = (  # Llama 3 style, with the Jinja features real templates use
    "{{- bos_token }}{%- set ns = namespace(system='') %}"
    "{%- if messages[0]['role'] == 'system' %}{%- set ns.system = messages[0]['content'] | trim %}"
    "{%- set messages = messages[1:] %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\n\n' + ns.system + '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{%- if message['role'] not in ['user', 'assistant'] %}{{- raise_exception('roles must alternate') }}{%- endif %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
    "{#- a comment #}{%- if false %}{{ {'a': 'é<>'} | tojson }}{%- endif %}"
)
MESSAGES = [{"role": "system", "content": "  Be brief.  "}, {"role": "user", "content": "Hello, who are you?"},
            {"role": "assistant", "content": "A model."}, {"role": "user", "content": "Où es-tu ? <b>ok</b>"}]
CORPUS = Path(__file__).with_name("multilingual_corpus.txt")


def hf_tokenizer(directory: Path, template: str, bos: str | None, eos: str):
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(directory / "tokenizer.json"), bos_token=bos, eos_token=eos)
    tokenizer.chat_template = template
    return tokenizer


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    """A random Qwen2 whose tokenizer.json is ChatML's, with SmolLM2's template and <|im_end|> as eos."""
    directory = tmp_path_factory.mktemp("chat")
    write_hf_tokenizer(directory, "qwen2", CORPUS.read_text(encoding="utf-8").splitlines(keepends=True))
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    config |= {"chat_template": CHATML, "eos_token": "<|im_end|>"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    vocab = sqlgpt.Tokenizer.from_directory(directory).vocab_size
    return make_llama_checkpoint(directory, kind="qwen2", tied=True, vocab_size=vocab, max_position_embeddings=512)


@pytest.mark.parametrize("template", [CHATML, LLAMA3], ids=["chatml", "llama3"])
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_render_is_transformers_apply_chat_template(template, generation_prompt, hf_tokenizer_dir):
    directory = hf_tokenizer_dir("llama3")
    theirs = hf_tokenizer(directory, template, "<|begin_of_text|>", "<|eot_id|>").apply_chat_template(
        MESSAGES, tokenize=False, add_generation_prompt=generation_prompt)
    ours = render(template, MESSAGES, add_generation_prompt=generation_prompt,
                  special_tokens={"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"})
    assert ours == theirs


def test_a_template_refusal_and_bad_messages_are_one_line():
    with pytest.raises(SqlgptError, match="roles must alternate"):
        render(LLAMA3, [{"role": "system", "content": "a"}, {"role": "system", "content": "b"}],
               special_tokens={"bos_token": ""})
    with pytest.raises(SqlgptError, match="chat message"):
        render(CHATML, [{"role": "robot", "content": "hi"}])
    with pytest.raises(SqlgptError, match="does not compile"):
        render("{% for %}", MESSAGES)


def test_the_prompt_ids_are_transformers(chat_dir):
    with sqlgpt.load(chat_dir, engine="numpy") as gpt, gpt.conversation() as chat:
        chat.messages = [dict(m) for m in MESSAGES]
        theirs = hf_tokenizer(chat_dir, CHATML, None, "<|im_end|>").apply_chat_template(
            MESSAGES, tokenize=True, add_generation_prompt=True)
        theirs = theirs["input_ids"] if isinstance(theirs, dict) or hasattr(theirs, "keys") else theirs
        assert chat.prompt_ids() == list(theirs)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_two_turns_reuse_the_cache_and_agree_with_numpy(engine, chat_dir, tmp_path):
    turns = ["Hello there!", "And again?"]
    replies = {}
    for name in ("numpy", engine):
        options = {} if name == "numpy" else {"database": str(tmp_path / f"chat.{name}"), "progress": False}
        with sqlgpt.load(chat_dir, engine=name, **options) as gpt, gpt.conversation(system="Be brief.") as chat:
            replies[name] = []
            for turn in turns:
                first_ids = len(chat.fed)
                replies[name].append("".join(chat.send(turn, max_new_tokens=6, temperature=0)))
                if turn is turns[1]:
                    assert chat.reused == first_ids > 0  # the first turn's prompt and reply stayed in the cache
            assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user", "assistant"]
            assert chat.messages[2]["content"] == replies[name][0]
            # The cached conversation gives the reply a fresh one-shot chat gives.
            assert gpt.chat(chat.messages[:4], max_new_tokens=6, temperature=0) == replies[name][1]
    assert replies[engine] == replies["numpy"]


def test_chat_refusals(chat_dir, tiny_dir):
    with sqlgpt.load(tiny_dir, engine="numpy") as gpt:
        with pytest.raises(SqlgptError, match="no chat template"):
            gpt.conversation()
    with sqlgpt.load(chat_dir, engine="numpy") as gpt:
        with pytest.raises(SqlgptError, match="ending with the user's"):
            gpt.chat([{"role": "system", "content": "hi"}])
        with gpt.conversation() as chat, pytest.raises(SqlgptError, match="outgrown the model's context window"):
            list(chat.send("word " * 600))
        assert chat.messages == []  # the refused message is not kept


def _read_until_prompts(fd: int, transcript: bytearray, prompts: int, timeout: float = 120) -> None:
    """Read the terminal into `transcript` until it shows `prompts` prompts ("you> ")."""
    deadline = time.monotonic() + timeout
    while transcript.count(b"you> ") < prompts:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"waiting for prompt {prompts}: {bytes(transcript)!r}"
        if select.select([fd], [], [], remaining)[0]:
            transcript += os.read(fd, 4096)


def _own_terminal() -> None:
    """In the child: a session (and process group) of its own whose controlling terminal is
    the pty, as a program in a real terminal has, and SIGINT's default disposition
    (a shell running the tests in the background starts them with SIGINT ignored, and an
    ignored signal stays ignored across exec)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sqlgpt_chat_in_a_terminal(chat_dir):
    """Two turns typed at the prompt, the replies streamed back (those of the API), the
    second turn reading only its new tokens; then Ctrl-C at the prompt ends it cleanly
    (exit 0, no traceback)."""
    with sqlgpt.load(chat_dir, engine="numpy") as gpt, gpt.conversation(system="Be brief.") as chat:
        expected = ["".join(chat.send(turn, max_new_tokens=5, temperature=0)) for turn in ("Hello there!", "And again?")]
    assert all(expected)  # something to look for
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "sqlgpt", "chat", "--model", str(chat_dir), "--engine", "numpy",
                                "-n", "5", "-t", "0", "--system", "Be brief."],
                               stdin=child, stdout=child, stderr=child, preexec_fn=_own_terminal)
    os.close(child)
    transcript = bytearray()
    try:
        _read_until_prompts(main, transcript, 1)
        os.write(main, b"Hello there!\n")
        _read_until_prompts(main, transcript, 2)
        os.write(main, b"And again?\n")
        _read_until_prompts(main, transcript, 3)
        # Ctrl-C at the prompt: the SIGINT a terminal sends its foreground process group (sent
        # here directly: whether typing ^C into a pty raises it depends on the pty's settings)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(main)
    text = transcript.decode("utf-8", errors="replace").replace("\r\n", "\n")
    for reply in expected:
        assert reply.replace("\r\n", "\n") in text
    assert "Traceback" not in text and "error" not in text
