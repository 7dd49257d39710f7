"""WordPiece tokenizers trained offline on a task's training texts (HF `tokenizers`).

Ids 0..4 are [PAD], [UNK], [CLS], [SEP], [MASK]; sequences start with [CLS] and models treat id 0
as padding, so every tokenizer made here keeps that layout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)


def train_wordpiece(texts: Sequence[str], vocab_size: int, max_len: int) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)])
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]", length=max_len)
    return tokenizer


def tokenizer_for(texts: Sequence[str], vocab_size: int, max_len: int, directory: Path) -> tuple[Tokenizer, Path]:
    """The tokenizer for these training texts, trained once and kept in `directory` (the file
    name fingerprints the texts and settings, so a changed split never reuses a stale one)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    digest.update(f"{vocab_size}:{max_len}".encode())
    path = directory / f"tokenizer-{digest.hexdigest()[:12]}.json"
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
    return torch.tensor([e.ids for e in tokenizer.encode_batch(list(texts))], dtype=torch.long)
