"""IAM and STS on the edge: the account's keys, and who they belong to."""
