"""CloudWatch's documented "CloudWatch Alarm State Change" event, shared by the recovery tests and the rehearsal.

Transcribed from Amazon CloudWatch User Guide, "Alarm events and EventBridge", Single Metric Alarm (reasons
shortened). As documented it goes OK -> ALARM; the tests substitute the alarm and the states.
"""

from __future__ import annotations

from typing import Any

#: Transcribed from the AWS documentation's example (see the module docstring).
DOCUMENTED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
    "detail-type": "CloudWatch Alarm State Change",
    "source": "aws.cloudwatch",
    "account": "123456789012",
    "time": "2019-10-02T17:04:40Z",
    "region": "us-east-1",
    "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"],
    "detail": {
        "alarmName": "ServerCpuTooHigh",
        "configuration": {
            "description": "Goes into alarm when server CPU utilization is too high!",
            "metrics": [
                {
                    "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
                    "metricStat": {
                        "metric": {
                            "dimensions": {"InstanceId": "i-12345678901234567"},
                            "name": "CPUUtilization",
                            "namespace": "AWS/EC2",
                        },
                        "period": 300,
                        "stat": "Average",
                    },
                    "returnData": True,
                }
            ],
        },
        "previousState": {
            "reason": "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (02/10/19 16:59:00)] was not greater "
            "than or equal to the threshold (50.0).",
            "timestamp": "2019-10-02T17:04:40.985+0000",
            "value": "OK",
        },
        "state": {
            "reason": "Threshold Crossed: 1 out of the last 1 datapoints [99.5 (02/10/19 17:04:00)] was greater "
            "than or equal to the threshold (50.0).",
            "timestamp": "2019-10-02T17:04:40.989+0000",
            "value": "ALARM",
        },
    },
}
