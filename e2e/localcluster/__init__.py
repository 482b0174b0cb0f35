"""The local cluster the suite and the demo run on: a real control plane built from source
(`controlplane`) and a simulated node (`kubelet`) that runs pods in containers or processes.

Test tooling: never part of the product's wheel or image."""
