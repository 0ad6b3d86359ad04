#!/usr/bin/env python3
"""The vpcwatch demo app: `cdk synth` needs no arguments (settings come from cdk.json)."""

import aws_cdk as cdk

from vpcwatch_demo.stack import build_app

app = cdk.App()
build_app(app)
app.synth()
