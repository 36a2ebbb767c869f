"""Services every command shares, one home each: atomic writes and CSV files, mask and image files, the raw
value -> label rule, pairing files by stem, and the layout of the ``segbench compare`` run folder."""
