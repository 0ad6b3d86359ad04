"""The CDK constructs. Only modules under this package import ``aws_cdk``."""
