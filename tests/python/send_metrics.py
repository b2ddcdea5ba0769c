"""Send metrics to a gpuwatch collector with the official OpenTelemetry Python SDK.

Usage: send_metrics.py --http http://127.0.0.1:4318 --grpc 127.0.0.1:4317

For each transport it makes its own MeterProvider whose resource has its own
host.name (py-http, py-grpc), records GPU-shaped metrics and an inference latency
histogram, flushes, and exits non-zero if any export failed.
"""

import argparse
import sys

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpExporter,
)
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

# The values the Rust side expects; keep in step with tests/python_sdk.rs.
UTILIZATION = {"gpu0": 0.87, "gpu1": 0.12}
POWER_WATTS = 412.5
LATENCIES = [0.012, 0.020, 0.035, 0.150, 0.900]


def send(host, exporter):
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create(
            {
                "host.name": host,
                "service.name": "python-sdk-test",
                "gpuwatch.cluster": "py",
            }
        ),
        metric_readers=[reader],
    )
    meter = provider.get_meter("gpuwatch-python-sdk-test")

    def utilization(_options):
        for name, value in UTILIZATION.items():
            yield Observation(
                value,
                {
                    "hw.id": f"GPU-{host}-{name}",
                    "hw.name": name,
                    "hw.model": "NVIDIA H100 80GB HBM3",
                    "hw.gpu.task": "general",
                    "gpuwatch.job.id": "py-job",
                },
            )

    meter.create_observable_gauge(
        "hw.gpu.utilization", callbacks=[utilization], unit="1"
    )
    power = meter.create_gauge("hw.power", unit="W")
    for name in UTILIZATION:
        power.set(POWER_WATTS, {"hw.id": f"GPU-{host}-{name}", "hw.name": name})
    steps = meter.create_counter("gpuwatch.train.step", unit="{step}")
    steps.add(41, {"gpuwatch.job.id": "py-job"})
    steps.add(1, {"gpuwatch.job.id": "py-job"})
    latency = meter.create_histogram("gpuwatch.inference.duration", unit="s")
    for seconds in LATENCIES:
        latency.record(seconds, {"gpuwatch.model": "fraud-v3"})

    ok = provider.force_flush(timeout_millis=20_000)
    provider.shutdown()
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", required=True, help="OTLP/HTTP base URL")
    parser.add_argument("--grpc", required=True, help="OTLP/gRPC host:port")
    args = parser.parse_args()
    ok_http = send(
        "py-http", HttpExporter(endpoint=args.http.rstrip("/") + "/v1/metrics")
    )
    ok_grpc = send("py-grpc", GrpcExporter(endpoint=args.grpc, insecure=True))
    print(f"python-sdk: http export ok={ok_http}, grpc export ok={ok_grpc}")
    sys.exit(0 if ok_http and ok_grpc else 1)


if __name__ == "__main__":
    main()
