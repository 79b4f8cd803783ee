"""Media plumbing shared by node executors: image files and resampling (``image``), ffmpeg
video encoding/decoding (``video``) and procedurally made demo inputs (``samples``).

Nothing here knows about nodes; executors in ``wfrun.packs`` call these helpers and
turn :class:`MediaPathError` and friends into node input errors.
"""
