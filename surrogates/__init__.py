"""How to choose what to try next: graph embeddings, Bayesian surrogates and baseline strategies."""
