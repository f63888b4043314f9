"""Batch jobs over a manifest: ``lychee-rerank batch MANIFEST --model M --out OUT`` (DESIGN.md §2).

A manifest (CSV, JSONL or Parquet) lists ``query`` and ``image`` per row, with an optional
unique ``id`` (default: the 0-based row number) and ``group`` (the unit of ranking; default:
rows with the same query); other columns are carried through. The job writes one output row per
manifest row with ``score``, ``rank`` (1 = best within its group), ``parse_method``, ``warning``
and ``scored_size``.

* ``manifest``/``readers``: stream the manifest in chunks (bounded memory), normalised.
* ``scoring``: one chunk through one :class:`~lychee_rerank.reranker.Reranker`.
* ``parts``/``merge``: part files written atomically as the job goes, then one output with ranks.
* ``local`` and ``ray_engine``: the two engines; ``job`` runs either; ``command`` is the CLI.

Nothing heavy is imported here: ``from lychee_rerank.batch.command import ...`` stays light.
"""
