"""The published contract: object keys, scene/current/tour/site documents, their schemas.

Front ends, share links and agency exports read exactly what this package describes. A change
here changes what every viewer, bucket reader and exported bundle sees: bump the document
schema ("panodock.scene/1" ...) when a change is not backwards compatible, and regenerate the
JSON Schemas with ``python -m workers.contract.schemas``.
"""
