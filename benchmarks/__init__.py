"""Speed and scale benchmarks against peer simulators (not part of `make test`)."""
