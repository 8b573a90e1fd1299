"""Event sources that invoke functions: S3 notifications (``relay``) so far."""
