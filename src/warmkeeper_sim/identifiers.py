"""The names, identifiers and ARNs of the simulated stack: CityGuided's staging environment in one
account and region, behind either front door."""

from __future__ import annotations

REGION = "eu-west-3"
ACCOUNT = "123456789012"
CLUSTER = "cityguided-staging"
SERVICE = "cityguided-staging"
PREFIX = "/warmkeeper/cityguided/staging"
ALARM_NAME = "cityguided-staging-idle"
KEEPALIVE_TOKEN = "sim-keepalive-token"
LISTENER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/cityguided/1/1"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:cityguided-keepalive"
# What the app's tasks send to the waker's function URL (activity beacon reports, internal wakes).
WAKE_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:cityguided-staging-wake"
WAKE_SECRET = "sim-wake-secret"
FUNCTION_URL_DOMAIN = f"simwakerurl.lambda-url.{REGION}.on.aws"
TASK_DEFINITION_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/cityguided"
# The HTTP API front door: the stack's API, integrations, VPC link, Cloud Map.
API_ID = "simapi1"
API_STAGE = "$default"
WAKER_INTEGRATION_ID = "wakerint"
SERVICE_INTEGRATION_ID = "serviceint"
VPC_LINK_ID = "simlink1"
CLOUD_MAP_NAMESPACE = "cityguided-staging.local"
CLOUD_MAP_SERVICE = "cityguided"
ENTRY_PORT = 8080
CLOUD_MAP_SERVICE_ID = "srv-cityguided"
# The service only the waker registers ready tasks in, the one API Gateway's integration reads.
CLOUD_MAP_FRONT_SERVICE = "cityguided-front"
CLOUD_MAP_FRONT_SERVICE_ID = "srv-cityguided-front"
