"""S3: buckets and objects stored on disk (``store``, ``uploads``), the operations
(``service``, ``multipart``), bucket notifications (``notifications``) and its HTTP app
(``app``, on the edge's rest-xml protocol layer)."""
