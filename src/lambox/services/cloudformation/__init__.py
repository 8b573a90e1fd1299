"""CloudFormation on the edge: stacks and change sets provisioned into lambox's services."""
