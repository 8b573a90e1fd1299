"""One package per AWS service lambox serves on its edge besides Lambda: S3, CloudFormation."""
