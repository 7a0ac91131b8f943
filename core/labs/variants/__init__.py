"""Lesson 7, dropout's relatives: each variant's experiment (one module per variant), the registry, the figures."""
