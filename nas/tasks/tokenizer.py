"""WordPiece tokenizers trained offline on a task's training texts (HF `tokenizers`).

Ids 0..4 are [PAD], [UNK], [CLS], [SEP], [MASK]; sequences start with [CLS] and models treat id 0
as padding, so every tokenizer made here keeps that layout.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
ADDED_TOKENS = 2  # [CLS] and [SEP] around every text: a sequence holds max_len - 2 of its own


CONTINUING = "##"  # WordPiece's mark of a piece inside a word


def wordpiece_vocab(words: Mapping[str, int], vocab_size: int) -> list[str]:
    """A WordPiece vocabulary for `words` (word -> count): the special tokens, every character (as
    a word start and as a continuing `##` piece), then merged pieces, most frequent pair first, as
    the BPE training behind WordPiece does. Deterministic: equal counts go to the pair that sorts
    first. (The `tokenizers` trainer breaks such ties in hash-map order, so the same texts gave a
    different vocabulary, and a different model, on every run: huggingface/tokenizers#1794.)"""
    ordered = sorted(words)  # word order fixes nothing below; it makes the data structures reproducible
    splits = [[word[0], *(CONTINUING + c for c in word[1:])] for word in ordered]
    counts = [words[word] for word in ordered]
    vocab = list(SPECIAL_TOKENS) + sorted({piece for split in splits for piece in split})
    known = set(vocab)
    pair_counts: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, split in enumerate(splits):
        for pair in zip(split, split[1:]):
            pair_counts[pair] += counts[index]
            where[pair].add(index)
    # Largest count first, then the smaller pair of strings; stale entries are skipped on pop.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative or negative == 0:
            continue
        left, right = pair
        merged = left + right.removeprefix(CONTINUING)
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair)):
            split, count = splits[index], counts[index]
            for old in zip(split, split[1:]):
                pair_counts[old] -= count
                changed.add(old)
            joined: list[str] = []
            i = 0
            while i < len(split):
                if i + 1 < len(split) and split[i] == left and split[i + 1] == right:
                    joined.append(merged)
                    i += 2
                else:
                    joined.append(split[i])
                    i += 1
            splits[index] = joined
            for new in zip(joined, joined[1:]):
                pair_counts[new] += count
                where[new].add(index)
                changed.add(new)
        pair_counts.pop(pair, None)
        for other in changed - {pair}:
            if pair_counts.get(other, 0) > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
            else:
                pair_counts.pop(other, None)
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
    return vocab


def _normalized_words(texts: Sequence[str]) -> Counter[str]:
    """Words as the tokenizer sees them: BERT's normalisation (lowercase, accents stripped) and
    its split on whitespace and punctuation."""
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return words


def whole_word_vocab_size(tokens: Iterable[str]) -> int:
    """The most entries `wordpiece_vocab` makes of texts of these tokens, given room to merge every
    word into one piece: the special tokens, each character as a word start and as a `##` piece,
    and an entry per merge; a merge joins two pieces of some word, so a word of n characters
    takes n - 1 merges at most. A vocabulary this large keeps every word whole. (Light: no torch,
    so a spec's generated task is costed without it.)"""
    words = _normalized_words(list(tokens))
    starts, inside = {word[0] for word in words}, {char for word in words for char in word[1:]}
    return len(SPECIAL_TOKENS) + len(starts) + len(inside) + sum(len(word) - 1 for word in words)


def train_wordpiece(texts: Sequence[str], vocab_size: int, max_len: int) -> Tokenizer:
    vocab = wordpiece_vocab(_normalized_words(texts), vocab_size)
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]", continuing_subword_prefix=CONTINUING))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)])
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]", length=max_len)
    return tokenizer


LEGACY = "legacy"  # `tokenizer_file` of a checkpoint made before tokenizers were deterministic


def tokenizer_for(texts: Sequence[str], vocab_size: int, max_len: int, directory: Path, tokenizer_file: str | None = None) -> tuple[Tokenizer, Path]:
    """The tokenizer for these training texts, trained once and kept in `directory` (the file
    name fingerprints the texts and settings, so a changed split never reuses a stale one).
    `tokenizer_file`: the file a checkpoint was trained with, used as it is; LEGACY: the file the
    non-deterministic trainer of earlier versions left here, if it is still here."""
    if tokenizer_file not in (None, LEGACY) and (directory / tokenizer_file).exists():
        return Tokenizer.from_file(str(directory / tokenizer_file)), directory / tokenizer_file
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    digest.update(f"{vocab_size}:{max_len}".encode())
    legacy = directory / f"tokenizer-{digest.hexdigest()[:12]}.json"
    if tokenizer_file == LEGACY and legacy.exists():
        return Tokenizer.from_file(str(legacy)), legacy
    path = directory / f"tokenizer-wp2-{digest.hexdigest()[:12]}.json"  # wp2: the deterministic vocabulary
    if tokenizer_file is not None and tokenizer_file != path.name:
        logger.warning("tokenizer %s is not in %s; training it again from the same texts (it comes out the same unless it predates deterministic tokenizers)", tokenizer_file, directory)
    if path.exists():
        return Tokenizer.from_file(str(path)), path
    tokenizer = train_wordpiece(texts, vocab_size, max_len)
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    tokenizer.save(str(partial))
    partial.replace(path)  # atomic: a concurrent reader never sees half a file
    return tokenizer, path


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """(len(texts), max_len) token ids, padded with 0."""
    import torch  # here: the vocabulary's size is known to specs without torch

    return torch.tensor([e.ids for e in tokenizer.encode_batch(list(texts))], dtype=torch.long)
