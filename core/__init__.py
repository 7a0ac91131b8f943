"""Dropout Lab's code, in rooms (README, "What is where"): ``engine`` (the dropout ML library),
``analysis`` (measurements on trained models), ``live`` (runners, worker pool, jobs), ``viz`` (the
figure kit), ``labs/<slug>`` (each lesson's computations and figures) and ``ui`` (the only Streamlit
code); ``worker`` and ``__main__`` put them together."""
