"""The AWS CDK app: one CloudFormation stack per environment, composed of one construct per capability.

Import only to synthesize (aws_cdk is slow to import); the Lambda bundle never contains this package.
"""
