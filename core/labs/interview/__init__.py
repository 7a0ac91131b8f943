"""Interview prep: the bank's live experiments (predict-then-observe), the judge that grades a learner's
``Dropout`` against torch, and the practice logic (mock interviews, progress, spaced review)."""
