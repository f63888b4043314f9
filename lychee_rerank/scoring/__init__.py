"""From (query, image) to a 0-10 score: prompts, query text, the scorers and the tolerant parser.

``scoring`` never imports ``intake``: it receives decoded PIL images. The
:class:`~lychee_rerank.reranker.Reranker` composes the two.
"""
