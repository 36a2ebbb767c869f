"""Files from elsewhere, handled defensively: checked reading of untrusted data and the run folder's lock.

* :mod:`segbench.files.safe_read`: every reader of masks, images, arrays and checkpoints checks a file's header
  against the file's real size and a voxel limit before it allocates anything, never unpickles, and turns every
  failure into one :class:`~segbench.files.safe_read.UnreadableFile` line that names the file.
* :mod:`segbench.files.lock`: one writer per run folder (an OS-level lock on ``RUN/.segbench.lock``).
"""

from __future__ import annotations
