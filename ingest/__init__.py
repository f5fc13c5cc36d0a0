"""Reading what arrives: image headers and pixels, EXIF/XMP metadata, the capture sidecar.

Every function here takes the file's bytes (the worker downloads originals from object
storage), never a path, and reports a bad input as a
:class:`~config.errors.QuarantineError` whose message a field technician can act on.
"""
