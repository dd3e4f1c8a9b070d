"""load_text under the hostile-input contract (tests/fuzz/contract.py)."""

from __future__ import annotations

from tests.fuzz.contract import FUZZ, check, seeds
from hypothesis import given
from hypothesis import strategies as st

from tensortool.sources.text.load import load_text, write_vocab
from tensortool.tensorfile import write_bundle

SEEDS = [s[:4000] for s in seeds("text/*.txt")]
SPECIAL = ["\n", "\r\n", "\r", "\n\n", "\ufeff", "\x00", "—", "--", "’", "“", "é", "\U0001F600", "\u0301", " ",
           "\t", "\u2028", "\x85", "Σ", "ǅ", "ﬁ", "İ", "<pad>", "<unk>", "\udcff"]

options = st.fixed_dictionaries({}, optional={
    "level": st.sampled_from(["char", "word"]),
    "charset": st.sampled_from(["ascii", "corpus"]),
    "lower": st.booleans(),
    "strip_punct": st.booleans(),
    "unit": st.sampled_from(["file", "line", "paragraph"]),
    "min_freq": st.integers(1, 3),
    "max_vocab": st.integers(3, 20),
    "max_len": st.integers(1, 50),
    "one_hot": st.booleans(),
    "max_bytes": st.integers(1, 1 << 22),
    "max_tokens": st.integers(1, 5000),
    "encoding": st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252", "ascii"]),
    "errors": st.sampled_from(["strict", "replace"]),
})


def run(tmp_path, data: bytes, opts: dict):
    src, out, vocab = tmp_path / "in.txt", tmp_path / "out.pt", tmp_path / "vocab.json"
    src.write_bytes(data)
    out.unlink(missing_ok=True)
    vocab.unlink(missing_ok=True)

    def call():
        bundle = load_text(src, **opts)
        write_bundle(bundle, out)
        write_vocab(bundle.meta["vocab"], vocab)
        return bundle

    result = check(call, outputs=[out])
    if not isinstance(result, Exception):
        tokens, lengths = result["tokens"], result["lengths"]
        assert tokens.shape[0] == lengths.shape[0] and int(lengths.max()) == tokens.shape[1]
        assert int(tokens.max()) < result.meta["vocab_size"]
        if "onehot" in result.tensors:
            assert result["onehot"].numel() * 4 <= opts.get("max_bytes", 1 << 30)


@FUZZ
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 4000), inserts=st.lists(
    st.tuples(st.integers(0, 4000), st.sampled_from(SPECIAL), st.integers(1, 50)), max_size=5),
    flips=st.lists(st.integers(0, 1 << 15), max_size=4), opts=options)
def test_mutated_sample_text(tmp_path, seed, cut, inserts, flips, opts):
    data = seed[:cut]
    for at, text, count in inserts:
        at %= len(data) + 1
        data = data[:at] + (text * count).encode("utf-8", "surrogatepass") + data[at:]
    for bit in flips:
        if data:
            i = bit % len(data)
            data = data[:i] + bytes([data[i] ^ (1 << (bit % 8))]) + data[i + 1:]
    run(tmp_path, data, opts)


@FUZZ
@given(text=st.lists(st.one_of(st.characters(), st.sampled_from(SPECIAL)), max_size=200).map("".join),
       encoding=st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1"]), opts=options)
def test_random_text(tmp_path, text, encoding, opts):
    run(tmp_path, text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace"),
        {**opts, "encoding": encoding if "encoding" not in opts else opts["encoding"]})


@FUZZ
@given(words=st.integers(1, 3000), lines=st.integers(1, 300), limit=st.integers(1, 4000),
       level=st.sampled_from(["char", "word"]))
def test_long_lines_and_token_limits(tmp_path, words, lines, limit, level):
    data = ("x\n" * lines + "ab " * words + "\n").encode()
    result = check(lambda: load_text(tmp_path / "in.txt", level=level, max_tokens=limit, max_bytes=1 << 16)
                   if (tmp_path / "in.txt").write_bytes(data) else None)
    total = lines + (words if level == "word" else 2 * words)
    if total <= limit and (lines + 1) * (words if level == "word" else 3 * words - 1) * 9 <= 1 << 16:
        assert not isinstance(result, Exception), result
