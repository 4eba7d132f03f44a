"""The command groups of ``memfun``, one module each."""
