"""The bundled demo reranker: a small Qwen2.5-VL trained here on synthetic coloured shapes (see README.md)."""
