"""Traces of invocations: X-Ray trace headers carried through, and spans exported over OTLP."""
