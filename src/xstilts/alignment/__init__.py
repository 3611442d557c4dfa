"""Cross-lingual alignment of contextual word representations with parallel data (Cao et al. 2020; Efimov et al.
2022): corpora (corpus), the job (job, torch-free), word vectors and links (vectors), the loss and its loop (train),
the word-distance diagnostics (diagnostics) and the phase that writes a checkpoint (phase)."""
