"""A deterministic, discrete-event simulation of the AWS behaviour warmkeeper depends on.

It drives the **real** Lambda handler, engine and adapters against simulated boto3 clients, with a
simulated clock and seeded randomness: quotas, throttling, latencies, the Fargate task lifecycle,
ALB health checks and rule propagation, Lambda concurrency, lost and duplicated events. Every
figure it produces is **simulated**; every number it is built on is in :mod:`warmkeeper_sim.figures`
with its source. A test and benchmark tool: the Lambda bundle never imports it.
"""
