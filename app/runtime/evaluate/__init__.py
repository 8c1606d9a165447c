"""Quality evaluation of GGUF quantizations with llama.cpp, computed like ``llama-perplexity --kl-divergence``.

* :func:`measure_perplexity` - perplexity of one model on a text;
* :func:`compare_models` - a base model (evaluated once, cached on disk) against candidates: mean/median/p99/max
  KL divergence, share of positions with the same top token, PPL and PPL ratio, all with standard errors;
* :func:`recommend` - the smallest candidate under a KL threshold among those that fit;
* :func:`is_base_cached`, :func:`cache_size`, :func:`clear_cache` - the on-disk cache of base passes.

A GUI worker calls, on its own thread (one thread owns the llama.cpp objects)::

    report = compare_models(base, candidates, n_ctx=512, n_chunks=32, progress=on_progress, cancel=token,
                            on_result=on_row)  # on_row(CandidateResult) fires as each candidate finishes
    best = recommend(report.candidates, max_kl=DEFAULT_MAX_KL, fits={path: verdict, ...})

Progress is reported in tokens over the whole job; a cancel raises ``Cancelled`` within one graph node and keeps
the finished base chunks cached.

Modules: ``text`` (evaluation text, chunking), ``llama_runner`` (llama.cpp decode per chunk), ``logprobs``
(per-position maths, compact base record), ``stats`` (summaries), ``base_cache`` (on-disk cache), ``results``.
"""

from .base_cache import cache_size, clear_cache, default_cache_root
from .compare import compare_models, is_base_cached
from .perplexity import measure_perplexity
from .recommend import DEFAULT_MAX_KL, Recommendation, recommend
from .results import CandidateResult, ComparisonReport, EvaluatedModel, PerplexityResult
from .stats import KLSummary, ValueWithError
from .text import EvalText, default_text_path

__all__ = [
    "CandidateResult", "ComparisonReport", "DEFAULT_MAX_KL", "EvalText", "EvaluatedModel", "KLSummary",
    "PerplexityResult", "Recommendation", "ValueWithError", "cache_size", "clear_cache", "compare_models",
    "default_cache_root", "default_text_path", "is_base_cached", "measure_perplexity", "recommend",
]
