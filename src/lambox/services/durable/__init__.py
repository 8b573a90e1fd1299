"""Lambda durable functions: executions, their checkpoints and the loop that invokes them."""
