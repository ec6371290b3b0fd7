"""The app's one cache for values every session shares: :func:`shared`.

Each call of an ``st.cache_resource`` function costs ~0.5 ms even when the value is cached:
Streamlit inspects the function's signature and hashes every argument on every call. A page
makes ~30 such calls per rerun, and every viewer's rerun pays them under one GIL
(issue 17: ``bench/profile_rerun.py``). :func:`memo` keeps the values it has seen in a plain
dictionary keyed by the arguments, so a hit costs microseconds; a miss goes through the
Streamlit cache underneath (its spinner, its one computation for concurrent callers).
:func:`shared` puts the two together: every cached function of the app uses it.

As with Streamlit's caches, parameters whose names start with ``_`` are not part of the key,
and values are shared by every session: callers read them and never modify them.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import OrderedDict

import streamlit as st


def shared(max_entries: int, spinner: str | bool = False):
    """Cache a function's results for every session: ``st.cache_resource`` (one copy, never
    pickled; ``spinner`` shown while a value is computed) behind :func:`memo`, both holding at
    most ``max_entries`` values."""

    def decorate(fn):
        return memo(max_entries)(st.cache_resource(show_spinner=spinner,
                                                   max_entries=max_entries)(fn))

    return decorate


def memo(maxsize: int = 64):
    """Decorate a (Streamlit-cached) function: remember up to ``maxsize`` results, least
    recently used dropped first. ``fn.clear()`` forgets them."""

    def decorate(fn):
        names = list(inspect.signature(fn).parameters)
        keyed = [i for i, name in enumerate(names) if not name.startswith("_")]
        cache: OrderedDict = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = (tuple(args[i] for i in keyed if i < len(args)),
                   tuple(sorted((k, v) for k, v in kwargs.items() if not k.startswith("_"))))
            with lock:
                if key in cache:
                    cache.move_to_end(key)
                    return cache[key]
            value = fn(*args, **kwargs)  # an exception is not remembered
            with lock:
                cache[key] = value
                while len(cache) > maxsize:
                    cache.popitem(last=False)
            return value

        wrapper.clear = cache.clear
        return wrapper

    return decorate
