"""What each node is: ``NodeSpec`` in the shape of ComfyUI's ``/object_info``, one entry per
input-signature version, read from ``schemas/nodes/<pack>.json``; the extractor that builds
those files from a pack's history is a developer tool beside them (``specs.extract``)."""
