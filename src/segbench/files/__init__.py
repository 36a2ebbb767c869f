"""Services every command shares, one home each: atomic writes and CSV files, mask and image files, the raw
value -> label rule, pairing files by stem, the layout of the ``segbench compare`` run folder, and the defences
against files from elsewhere.

* :mod:`segbench.files.safe_read`: every reader of masks, images, arrays and checkpoints checks a file's header
  against the file's real size and a voxel limit before it allocates anything, never unpickles, and turns every
  failure into one :class:`~segbench.files.safe_read.UnreadableFile` line that names the file.
* :mod:`segbench.files.lock`: one writer per run folder (an OS-level lock on ``RUN/.segbench.lock``).
"""

from __future__ import annotations
