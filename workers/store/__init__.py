"""Object stores: the interface, the local-directory and S3 backends, conditional writes, GC."""
