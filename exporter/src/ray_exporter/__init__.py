"""ray-exporter: serves the kuberay_* gauges computed from Ray custom resources."""
