"""SNS on the edge: topics and subscriptions in SQLite, served in the query protocol."""
