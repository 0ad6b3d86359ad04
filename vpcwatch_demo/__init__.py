"""The demo app of vpcwatch: the seeds' lab as one stack, and the `make demo` steps."""
