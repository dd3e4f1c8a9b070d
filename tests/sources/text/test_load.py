"""load_text against plain-Python reimplementations of the tutorial's steps."""

from __future__ import annotations

import string
from collections import Counter

import pytest
import torch

from tests.conftest import SAMPLES
from tensortool import InputError, OptionError, load_text, read_vocab, write_vocab

PRIDE = SAMPLES / "text" / "pride-and-prejudice-ch1.txt"


def tutorial_lines() -> list[str]:
    return [line.strip() for line in PRIDE.read_text(encoding="utf-8").split("\n") if line.strip()]


def tutorial_char_onehot(line: str) -> torch.Tensor:
    """The tutorial's character one-hot (Deep Learning with PyTorch, ch. 4), verbatim in spirit."""
    letter_t = torch.zeros(len(line), 128)
    for i, letter in enumerate(line.lower().strip()):
        letter_index = ord(letter) if ord(letter) < 128 else 0
        letter_t[i][letter_index] = 1
    return letter_t


def tutorial_words(text: str) -> list[str]:
    """The tutorial's clean_words, with the fixes load-text makes: Unicode punctuation, dashes
    between words, no empty tokens."""
    punctuation = string.punctuation + "“”‘’—–"
    text = text.lower().replace("’", "'").replace("—", " ").replace("–", " ").replace("--", " ")
    words = [word.strip(punctuation) for word in text.replace("\n", " ").split()]
    return [w for w in words if w]


def test_char_ascii_equals_tutorial_one_hot():
    lines = tutorial_lines()
    b = load_text(PRIDE, level="char", charset="ascii", one_hot=True)
    assert b.meta["vocab_size"] == 128 and b["tokens"].shape[0] == len(lines)
    for i in (0, 5, 12, len(lines) - 1):
        n = len(lines[i])
        assert b["lengths"][i] == n
        assert torch.equal(b["onehot"][i, :n], tutorial_char_onehot(lines[i]))
        assert not b["onehot"][i, n:].any()  # padding positions are all-zero rows


def test_words_match_the_corrected_tutorial_tokenizer():
    lines = tutorial_lines()
    b = load_text(PRIDE)
    vocab = b.meta["vocab"]["tokens"]
    for i, line in enumerate(lines):
        words = tutorial_words(line)
        assert [vocab[t] for t in b["tokens"][i, : b["lengths"][i]]] == words
    assert "" not in vocab and "bennet" in vocab and "over-scrupulous" in vocab
    counts = Counter(w for line in lines for w in tutorial_words(line))
    expected = ["<pad>", "<unk>"] + sorted(counts, key=lambda w: (-counts[w], w))
    assert vocab == expected  # frequency, then alphabetical


def test_tokens_lengths_mask_and_max_len():
    b = load_text(PRIDE, unit="paragraph", max_len=10)
    paragraphs = [p for p in PRIDE.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    lengths = [min(len(tutorial_words(p)), 10) for p in paragraphs]
    assert b["lengths"].tolist() == lengths and b["tokens"].shape == (len(paragraphs), 10)
    assert torch.equal(b["mask"], torch.arange(10)[None, :] < torch.tensor(lengths)[:, None])
    assert (b["tokens"][~b["mask"]] == 0).all() and b.meta["truncated"] == sum(len(tutorial_words(p)) > 10 for p in paragraphs)
    whole = load_text(PRIDE, unit="file")
    assert whole["tokens"].shape == (1, len(tutorial_words(PRIDE.read_text(encoding="utf-8"))))


def test_no_lower_no_strip_punct(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("“Oh! Single, my dear.”\n", encoding="utf-8")
    b = load_text(path, lower=False, strip_punct=False)
    vocab = b.meta["vocab"]["tokens"]
    assert [vocab[t] for t in b["tokens"][0]] == ["“Oh!", "Single,", "my", "dear.”"]


def test_vocab_min_freq_max_vocab_and_reuse(tmp_path):
    b = load_text(PRIDE, min_freq=3, max_vocab=20)
    counts = Counter(w for line in tutorial_lines() for w in tutorial_words(line))
    frequent = sorted((w for w, c in counts.items() if c >= 3), key=lambda w: (-counts[w], w))[:18]
    assert b.meta["vocab"]["tokens"] == ["<pad>", "<unk>", *frequent]
    assert b.meta["unknown_tokens"] == sum(c for w, c in counts.items() if w not in frequent)
    write_vocab(b.meta["vocab"], tmp_path / "v.json")
    other = tmp_path / "other.txt"
    other.write_text("Mr. Bennet said nothing zebra\n", encoding="utf-8")
    again = load_text(other, vocab=tmp_path / "v.json")
    index = {w: i for i, w in enumerate(frequent, start=2)}
    assert again["tokens"][0].tolist() == [index.get(w, 1) for w in ["mr", "bennet", "said", "nothing", "zebra"]]
    assert read_vocab(tmp_path / "v.json")["tokens"] == b.meta["vocab"]["tokens"]
    with pytest.raises(OptionError, match="vocabulary is for level=.word."):
        load_text(other, vocab=tmp_path / "v.json", level="char")


def test_charset_corpus_has_specials():
    b = load_text(PRIDE, level="char", charset="corpus")
    tokens = b.meta["vocab"]["tokens"]
    text = "".join(tutorial_lines()).lower()
    assert tokens[:2] == ["<pad>", "<unk>"] and set(tokens[2:]) == set(text) and "“" in tokens


def test_dense_one_hot_refused_above_max_bytes():
    heard = []
    with pytest.raises(OptionError, match=r"above max_bytes.*'tokens'.*nn.Embedding"):
        load_text(PRIDE, one_hot=True, max_bytes=1000, on_plan=heard.append)
    assert heard and "dense one-hot" in heard[0]


def test_sparse_equals_dense(tmp_path):
    dense = load_text(PRIDE, unit="paragraph", one_hot=True)["onehot"]
    sparse = load_text(PRIDE, unit="paragraph", sparse=True)["onehot"]
    assert sparse.is_sparse and torch.equal(sparse.to_dense(), dense)


def test_bom_and_undecodable_bytes(tmp_path):
    path = tmp_path / "b.txt"
    path.write_bytes("\ufeffHello world".encode("utf-8"))
    b = load_text(path)
    assert b.meta["vocab"]["tokens"][2:] == ["hello", "world"]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 ok")
    with pytest.raises(InputError, match="byte offset 3"):
        load_text(bad)
    assert "caf\ufffd" in load_text(bad, errors="replace").meta["vocab"]["tokens"]
    assert "café" in load_text(bad, encoding="latin-1").meta["vocab"]["tokens"]


def test_a_huge_line_is_refused_up_front_with_its_line(tmp_path):
    import tracemalloc

    path = tmp_path / "one-line.txt"
    path.write_bytes(b"first line\n" + b"ab " * 700_000 + b"\n")
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            load_text(path, max_tokens=100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and "line 2" in message and "\n" not in message
    # Refused after at most one chunk of tokens, not after building 1.5M token strings.
    assert peak < 45e6, peak


@pytest.mark.parametrize("level", ["char", "word"])
def test_too_many_tokens_in_total_is_refused(tmp_path, level):
    path = tmp_path / "many.txt"
    path.write_text("a b c d\n" * 2000)
    with pytest.raises(InputError, match=r"line \d+"):
        load_text(path, level=level, max_tokens=5000)
    assert load_text(path, level=level, max_tokens=20000)["tokens"].shape[0] == 2000


def test_padding_to_one_long_line_is_refused_before_allocating(tmp_path):
    path = tmp_path / "ragged.txt"
    path.write_text("x\n" * 3000 + "y " * 5000 + "\n")
    with pytest.raises(InputError, match=r"line 3001.*max_len"):
        load_text(path, max_bytes=10_000_000)  # 3001 x 5000 x 9 bytes of tokens and mask
    assert load_text(path, max_bytes=10_000_000, max_len=100)["tokens"].shape == (3001, 100)
