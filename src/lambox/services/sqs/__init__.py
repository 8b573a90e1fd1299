"""SQS on the edge: queues and messages in SQLite, served in the json and query protocols."""
