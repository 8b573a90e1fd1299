"""The edge: one port for every service lambox serves.

``router`` picks the service of a request (Host header, SigV4 credential scope,
``X-Amz-Target``, path); ``models`` loads botocore's service models; ``uri`` matches REST
request lines to operations; ``restxml`` parses requests and serializes responses and errors
of the rest-xml protocol (S3) from those models.
"""
