"""Tasks: the built-in catalog (light), data loading and splits, the WordPiece tokenizer."""
