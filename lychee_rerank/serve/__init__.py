"""``lychee-rerank serve``: the Reranker as an HTTP service speaking the Cohere/Jina/vLLM rerank APIs.

The parts, one job each:

* :mod:`.config` - the service's settings (limits, security switches), defined once.
* :mod:`.errors` - typed errors that become 4xx/5xx JSON answers naming the limit or rule.
* :mod:`.schemas` - request and response models, and the document shapes turned into :class:`DocumentInput`.
* :mod:`.sources` - an image reference (data URI, base64, URL, server path) turned into bytes, safely.
* :mod:`.gate` - the ASGI middleware in front of every route: draining, API key, body size, in-flight count.
* :mod:`.worker` - the one model worker: requests' documents pooled into the engine's batches.
* :mod:`.metrics` - Prometheus metrics.
* :mod:`.app` - the routes (FastAPI).
* :mod:`.server` - uvicorn with a graceful drain on SIGTERM; :mod:`.command` - the CLI subcommand.

Only :mod:`.command` is imported by the CLI at start-up; it imports FastAPI and uvicorn when the command runs.
"""
