"""mind_core: MIND (Multi-Interest Network with Dynamic Routing, Li et al., CIKM 2019) on MovieLens.

Reading order: ``dataset`` (normalized tables) → ``readers`` (file layouts) → ``fetch`` →
``encoding`` (integer ids) → ``samples`` (chronological split) → ``sampling`` (negatives) →
``model`` (MIND) → ``losses`` → ``train`` → ``evaluate`` → ``bundle`` (artifacts) →
``retrieval`` / ``projection`` / ``export`` → ``cli``.
"""

__version__ = "0.1.0"
