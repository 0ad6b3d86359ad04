"""The demo app of vpcwatch: the articles' lab as one stack, and the `make demo` steps."""
