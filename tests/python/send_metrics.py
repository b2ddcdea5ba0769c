"""Send metrics to a gpuwatch collector with the official OpenTelemetry Python SDK.

Usage: send_metrics.py --http http://127.0.0.1:4318 --grpc 127.0.0.1:4317
       [--token TOKEN] [--ca CA.pem] [--cert CLIENT.pem --key CLIENT-KEY.pem]

With --token every export carries `authorization: Bearer TOKEN` (the SDK's headers=);
with --ca both exporters speak TLS to the collector, trusting that CA, and with --cert
and --key they present a client certificate (the SDK's certificate options).

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
from opentelemetry.sdk.metrics.export import (
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

# The values the Rust side expects; keep in step with tests/python_sdk.rs.
UTILIZATION = {"gpu0": 0.87, "gpu1": 0.12}
POWER_WATTS = 412.5
LATENCIES = [0.012, 0.020, 0.035, 0.150, 0.900]


def send(host, exporter):
    # force_flush says True even when the export failed: keep each export's result.
    results = []
    export = exporter.export

    def recorded(*args, **kwargs):
        result = export(*args, **kwargs)
        results.append(result)
        return result

    exporter.export = recorded
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
    return ok and bool(results) and all(r == MetricExportResult.SUCCESS for r in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", required=True, help="OTLP/HTTP base URL")
    parser.add_argument("--grpc", required=True, help="OTLP/gRPC host:port")
    parser.add_argument("--token", help="bearer token sent with every export")
    parser.add_argument("--ca", help="PEM CA certificate: speak TLS, trusting it")
    parser.add_argument("--cert", help="PEM client certificate (mutual TLS)")
    parser.add_argument("--key", help="PEM key of --cert")
    parser.add_argument("--host-suffix", default="", help="appended to host.name")
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    http_options = {}
    grpc_options = {"insecure": True}
    if args.ca:
        http_options["certificate_file"] = args.ca
        if args.cert:
            http_options["client_certificate_file"] = args.cert
            http_options["client_key_file"] = args.key
        import grpc

        def read(path):
            with open(path, "rb") as f:
                return f.read()

        grpc_options = {
            "insecure": False,
            "credentials": grpc.ssl_channel_credentials(
                root_certificates=read(args.ca),
                private_key=read(args.key) if args.cert else None,
                certificate_chain=read(args.cert) if args.cert else None,
            ),
        }
    ok_http = send(
        "py-http" + args.host_suffix,
        HttpExporter(
            endpoint=args.http.rstrip("/") + "/v1/metrics",
            headers=headers,
            **http_options,
        ),
    )
    ok_grpc = send(
        "py-grpc" + args.host_suffix,
        GrpcExporter(endpoint=args.grpc, headers=headers, **grpc_options),
    )
    print(f"python-sdk: http export ok={ok_http}, grpc export ok={ok_grpc}")
    sys.exit(0 if ok_http and ok_grpc else 1)


if __name__ == "__main__":
    main()
